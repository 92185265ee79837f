/** What `tidemark up` prints once it is ready: where the API is and a request to paste. */
export function printBanner(info: {
  address: string;
  source: string;
  token: string | undefined;
  demo: boolean;
  demoUrl: ((db: string) => string) | undefined;
}): void {
  const token = info.token ?? '<your token from TIDEMARK_API_TOKENS>';
  const into = info.demoUrl ? info.demoUrl('restored') : 'postgres://user:password@host:5432/restored';
  const lines = [
    '',
    `Tidemark is running (embedded mode): API at ${info.address}  (OpenAPI docs: ${info.address}/docs)`,
    info.token
      ? `Admin token (kept in the data directory): ${info.token}`
      : 'API tokens: from TIDEMARK_API_TOKENS',
    info.demo ? `Capturing the demo database (no TIDEMARK_SOURCE_URL given): ${info.demoUrl?.('demo')}` : '',
    '',
    'List sources and their restorable window:',
    `  curl -s -H 'Authorization: Bearer ${token}' ${info.address}/v1/sources`,
    '',
    `Restore the latest state of "${info.source}" into a new database:`,
    `  curl -s -X POST -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' \\`,
    `    -d '{"source":"${info.source}","target":{"latest":true},"into":{"url":"${into}"}}' \\`,
    `    ${info.address}/v1/restores`,
    '',
    'Then follow it with GET /v1/restores/<id>. Ctrl-C stops Tidemark; a restart resumes where it stopped.',
    '',
  ];
  process.stdout.write(`${lines.filter((l, i, a) => l !== '' || a[i - 1] !== '').join('\n')}\n`);
}
