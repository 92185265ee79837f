import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_SETTINGS, renderConfigTable } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const SETTINGS = new Set(CONFIG_SETTINGS.map((s) => s.env));
/** variables read by libraries rather than by our configuration */
const LIBRARY_VARIABLES = new Set([
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
]);

async function cliCommands(): Promise<string[]> {
  const main = await readFile(path.join(root, 'packages/cli/src/main.ts'), 'utf8');
  const m = /export const COMMANDS = \[([^\]]+)\]/.exec(main);
  return [...(m?.[1] ?? '').matchAll(/'([a-z]+)'/g)].map((x) => x[1]!);
}

function checkVariables(env: Record<string, unknown>, where: string): void {
  for (const name of Object.keys(env)) {
    if (name.startsWith('TIDEMARK_'))
      expect(SETTINGS.has(name), `${where}: ${name} is not a Tidemark setting`).toBe(true);
    else expect(LIBRARY_VARIABLES.has(name), `${where}: unexpected variable ${name}`).toBe(true);
  }
}

/** The deployment files name only services, commands, variables and ports that exist. */
describe('infra/', () => {
  it('compose: every Tidemark service runs a real command with real settings on the port it publishes', async () => {
    const compose = parseYaml(await readFile(path.join(root, 'infra/compose.yaml'), 'utf8'), {
      merge: true,
    }) as {
      services: Record<
        string,
        { command?: string[]; environment?: Record<string, string>; ports?: string[]; build?: unknown }
      >;
    };
    const commands = await cliCommands();
    const tidemark = Object.entries(compose.services).filter(([, s]) => s.build);
    expect(tidemark.map(([name]) => name).sort((a, b) => a.localeCompare(b))).toEqual([
      'capture',
      'journal',
      'restore',
    ]);
    for (const [name, service] of tidemark) {
      const command = service.command?.[0];
      expect(commands, `${name} runs "${command}"`).toContain(command);
      expect(command).toBe(name);
      const env = service.environment ?? {};
      checkVariables(env, `compose ${name}`);
      const port = env.TIDEMARK_PORT;
      expect(port, `${name} sets TIDEMARK_PORT`).toBeDefined();
      expect(
        service.ports?.some((p) => p.endsWith(`:${port}`)),
        `${name} publishes ${port}`,
      ).toBe(true);
    }
    expect(compose.services.capture?.environment?.TIDEMARK_SOURCE_URL).toMatch(
      /^postgres:\/\/.*@postgres:5432\//,
    );
    expect(compose.services.postgres?.command?.join(' ')).toContain('wal_level=logical');
  });

  it('kubernetes: every Deployment runs a real command with real settings, probes on real routes', async () => {
    const dir = path.join(root, 'infra/k8s');
    const docs: {
      kind: string;
      metadata: { name: string };
      data?: Record<string, string>;
      spec?: unknown;
    }[] = [];
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(await readFile(path.join(dir, file), 'utf8')))
        docs.push(doc.toJS());
    }
    const commands = await cliCommands();
    const config = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'tidemark-config');
    checkVariables(config?.data ?? {}, 'ConfigMap tidemark-config');
    const port = Number(config?.data?.TIDEMARK_PORT);
    const deployments = docs.filter((d) => d.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort((a, b) => a.localeCompare(b))).toEqual([
      'tidemark-capture',
      'tidemark-journal',
      'tidemark-restore',
    ]);
    for (const d of deployments) {
      const spec = d.spec as {
        template: {
          spec: {
            containers: {
              args: string[];
              env?: { name: string }[];
              ports: { containerPort: number }[];
              livenessProbe: { httpGet: { path: string } };
              readinessProbe: { httpGet: { path: string } };
            }[];
          };
        };
      };
      const c = spec.template.spec.containers[0]!;
      expect(commands).toContain(c.args[0]);
      expect(d.metadata.name).toBe(`tidemark-${c.args[0]}`);
      checkVariables(Object.fromEntries((c.env ?? []).map((e) => [e.name, ''])), d.metadata.name);
      expect(c.ports[0]?.containerPort).toBe(port);
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    }
  });

  it('README: the configuration table is the one the code validates', async () => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    expect(readme).toContain(renderConfigTable().trim());
  });
});
