/**
 * Connection strings carry passwords. `redactUrl` hides them before a URL is logged or
 * shown: the user-info password, `password=` query parameters, and libpq's
 * `key=value` form. Text it cannot parse is masked rather than passed through.
 */
const MASK = '***';

export function redactUrl(url: string): string {
  const libpq = /(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/gi;
  if (!url.includes('://')) return url.replace(libpq, `$1password=${MASK}`);
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = MASK;
    for (const key of [...u.searchParams.keys()]) {
      if (key.toLowerCase() === 'password' || key.toLowerCase() === 'sslpassword')
        u.searchParams.set(key, MASK);
    }
    return u.toString();
  } catch {
    // unparseable: hide everything between the scheme and the host, where a password would be
    return url
      .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, `$1${MASK}@`)
      .replace(/password=[^&\s]*/gi, `password=${MASK}`);
  }
}
