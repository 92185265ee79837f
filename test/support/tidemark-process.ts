import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

export interface TidemarkProcessOptions {
  readonly sourceUrl?: string;
  readonly dataDir: string;
  readonly env?: Record<string, string>;
  /** the CLI command: `up` (default), or one role of the distributed topology */
  readonly command?: 'up' | 'capture' | 'journal' | 'restore';
}

/**
 * A real `tidemark up` child process (the compiled CLI), so tests can kill -9 it at any
 * moment and start it again on the same data directory.
 */
export class TidemarkProcess {
  readonly token = `tmk_test_${randomBytes(12).toString('hex')}`;
  private child: ChildProcess | undefined;
  private port = 0;
  private output: string[] = [];

  constructor(private readonly options: TidemarkProcessOptions) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get log(): string {
    return this.output.join('');
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      TIDEMARK_DATA_DIR: this.options.dataDir,
      TIDEMARK_PORT: String(this.port),
      TIDEMARK_HOST: '127.0.0.1',
      TIDEMARK_API_TOKENS: `tester:admin:${this.token}`,
      TIDEMARK_SEGMENT_MAX_AGE_MS: '200',
      TIDEMARK_HEARTBEAT_INTERVAL_MS: '200',
      TIDEMARK_LOG_LEVEL: 'warn',
      ...(this.options.sourceUrl ? { TIDEMARK_SOURCE_URL: this.options.sourceUrl } : {}),
      ...this.options.env,
    };
    const command = this.options.command ?? 'up';
    const child = spawn(process.execPath, [CLI, command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) {
        throw new Error(`tidemark ${command} exited with ${child.exitCode}:\n${this.log.slice(-4000)}`);
      }
      try {
        const res = await fetch(`${this.baseUrl}/readyz`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`tidemark ${command} did not become ready:\n${this.log.slice(-4000)}`);
  }

  /** kill -9: no chance to flush, close or confirm anything */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    this.child = undefined;
  }

  async api<T = unknown>(
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.baseUrl}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }
}

export function dataDirFor(root: string, name: string): string {
  return path.join(root, name);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}
