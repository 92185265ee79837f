import { execFile } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/** Server processes of test clusters: pids, signals, killing, and cleanup at process exit. */
const USER = 'postgres';
const execFileAsync = promisify(execFile);

let cachedUser: { uid: number; gid: number } | undefined;
export async function postgresUser(): Promise<{ uid: number; gid: number }> {
  if (cachedUser) return cachedUser;
  const [uid, gid] = await Promise.all([
    execFileAsync('id', ['-u', USER]).then((r) => Number.parseInt(r.stdout, 10)),
    execFileAsync('id', ['-g', USER]).then((r) => Number.parseInt(r.stdout, 10)),
  ]).catch((err: unknown) => {
    throw new Error(`the '${USER}' OS user is needed to run PostgreSQL as root`, { cause: err });
  });
  cachedUser = { uid, gid };
  return cachedUser;
}

export async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  return Number.isFinite(pid) && pid > 0 ? pid : undefined;
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export function isAlive(pid: number): boolean {
  if (!signal(pid, 0 as unknown as NodeJS.Signals)) return false;
  // an exited child of ours stays a zombie until Node reaps it, which cannot happen inside a
  // synchronous 'exit' handler: count zombies as gone
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** children by parent pid, from /proc (Linux) */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // the command name may contain spaces: fields after the closing parenthesis
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(name));
    } catch {
      // the process exited while we looked
    }
  }
  return out;
}

export async function killTree(pid: number, sig: NodeJS.Signals): Promise<void> {
  const victims = [pid, ...childrenOf(pid)];
  for (const p of victims) signal(p, sig);
  const deadline = Date.now() + 10_000;
  while (victims.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * A killed postmaster leaves its small System V shared memory segment behind (a clean
 * shutdown removes it and postmaster.pid). Its id is on line 7 of postmaster.pid.
 */
export async function releaseSharedMemory(dataDir: string): Promise<void> {
  const text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const shmid = (text.split('\n')[6] ?? '').trim().split(/\s+/)[1];
  if (shmid === undefined || !/^\d+$/.test(shmid)) return;
  await execFileAsync('ipcrm', ['-m', shmid]).catch(() => undefined);
}

// ---- cleanup of clusters a test did not stop --------------------------------------------

export interface LiveCluster {
  readonly root: string;
  readonly dataDir: string;
  pid: number | undefined;
}

export const live = new Set<LiveCluster>();

export async function killLeftover(entry: LiveCluster): Promise<void> {
  const pid = entry.pid ?? (await postmasterPid(entry.dataDir));
  if (pid !== undefined) await killTree(pid, 'SIGKILL');
}

function cleanupAtExit(): void {
  const pids: number[] = [];
  for (const entry of live) {
    let pid = entry.pid;
    if (pid === undefined) {
      try {
        pid = Number.parseInt(readFileSync(path.join(entry.dataDir, 'postmaster.pid'), 'utf8'), 10);
      } catch {
        pid = undefined;
      }
    }
    // SIGQUIT: the postmaster ends its children and frees its shared memory itself
    if (pid !== undefined && Number.isFinite(pid) && signal(pid, 'SIGQUIT')) pids.push(pid);
  }
  // 'exit' handlers must be synchronous: wait (bounded) for the servers to go before removing their folders
  const deadline = Date.now() + 5_000;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (pids.some(isAlive) && Date.now() < deadline) Atomics.wait(nap, 0, 0, 20);
  for (const entry of live) {
    try {
      chmodSync(entry.root, 0o755);
      rmSync(entry.root, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort at exit
    }
  }
  live.clear();
}

process.once('exit', cleanupAtExit);
