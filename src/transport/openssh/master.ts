/**
 * One `ssh` ControlMaster process per host: started, watched until it is ready (its `-v` log
 * says "Entering interactive session" once the control socket listens), then kept until the
 * transport closes. It runs in its own process group under a guard (args.ts GUARD_SCRIPT) so
 * Ctrl-C in the terminal does not cut the connection the interrupted run still needs for its
 * cleanup, and so it ends when this process ends, however that happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { GUARD_SCRIPT, SSH_BIN } from './args.js';
import { atExit } from './runtime-dir.js';

/** the master's log kept for diagnosis: all of it until ready, then the last lines */
const LOG_LIMIT = 256 * 1024;
const TAIL_LIMIT = 8 * 1024;

export interface MasterStart {
  args: string[];
  /** give up (kill the master) after this long without being ready; undefined: no limit */
  timeoutMs?: number;
  /** a passphrase or security-key prompt may need the terminal: keep the master in our session */
  interactive: boolean;
  /** the runtime directory, removed by the guard (when empty) if this process is killed */
  runtimeDir: string;
}

export type MasterOutcome = { ready: true; log: string } | { ready: false; log: string; timedOut: boolean };

export class Master {
  private readonly child: ChildProcess;
  private log = '';
  private ready = false;
  private exitedFlag = false;
  private readonly unhookExit: () => void;
  /** resolves when the master process has exited */
  readonly exited: Promise<void>;
  /** called once if the master exits after it was ready (the connection is gone) */
  onLost?: (reason: string) => void;
  private onData?: () => void;
  private readonly detached: boolean;

  private constructor(o: MasterStart) {
    // detached (a new session) unless a prompt may need the controlling terminal; then the guard
    // ignores SIGINT, which ssh keeps ignoring (it never replaces an inherited SIG_IGN)
    this.detached = !o.interactive;
    const script = o.interactive ? `trap '' INT; ${GUARD_SCRIPT}` : GUARD_SCRIPT;
    this.child = spawn('sh', ['-c', script, 'sh', SSH_BIN, ...o.args], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      detached: !o.interactive,
      env: { ...process.env, EE_RUNTIME_DIR: o.runtimeDir },
    });
    this.unhookExit = atExit(() => this.killNow());
    this.exited = new Promise<void>((resolve) => {
      let exitSeen = false;
      let errEnded = false;
      const finish = () => {
        if (!exitSeen || !errEnded || this.exitedFlag) return;
        this.exitedFlag = true;
        this.unhookExit();
        resolve();
        if (this.ready) this.onLost?.(this.lastMessage() ?? 'the ssh master connection exited');
      };
      this.child.once('exit', () => {
        exitSeen = true;
        // the rest of its log: stderr ends right after it (a stuck pipe must not hold us)
        setTimeout(() => {
          errEnded = true;
          finish();
        }, 300).unref();
        finish();
      });
      this.child.stderr!.once('end', () => {
        errEnded = true;
        finish();
      });
      this.child.once('error', (e) => {
        this.log += `\nee-deploy: cannot run ${SSH_BIN}: ${e.message}\n`;
        exitSeen = errEnded = true;
        finish();
      });
    });
    const dec = new StringDecoder('utf8');
    this.child.stderr!.on('data', (d: Buffer) => {
      this.log += dec.write(d);
      if (this.ready && this.log.length > TAIL_LIMIT * 2) this.log = this.log.slice(-TAIL_LIMIT);
      else if (this.log.length > LOG_LIMIT) this.log = this.log.slice(-LOG_LIMIT);
      this.onData?.();
    });
    // the guard's pipe: never written; it only has to stay open while we live
    const guardPipe = this.child.stdio[3] as (NodeJS.WritableStream & { unref?: () => void }) | null;
    guardPipe?.on('error', () => {});
    guardPipe?.unref?.(); // held, never used: it must not keep this process alive
  }

  /**
   * Starts a master; `outcome` settles once it is ready, has exited, or `giveUpAfter(ms)` ran out
   * (the deadline can be set later, once the host's ConnectTimeout is known).
   */
  static launch(o: MasterStart): { master: Master; outcome: Promise<MasterOutcome>; giveUpAfter: (ms: number) => void } {
    const m = new Master(o);
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let giveUp!: () => void;
    const outcome = new Promise<MasterOutcome>((resolve) => {
      m.onData = check;
      function check(): void {
        if (settled) return;
        if (m.exitedFlag) return done({ ready: false, log: m.log, timedOut: false });
        if (/^debug1: Entering interactive session/m.test(m.log)) {
          m.ready = true;
          const log = m.log;
          m.log = log.slice(-TAIL_LIMIT);
          return done({ ready: true, log });
        }
      }
      function done(out: MasterOutcome): void {
        settled = true;
        m.onData = undefined;
        if (timer) clearTimeout(timer);
        resolve(out);
      }
      giveUp = () => {
        if (settled) return;
        settled = true;
        m.onData = undefined;
        m.killNow();
        void m.exited.then(() => resolve({ ready: false, log: m.log, timedOut: true }));
      };
      void m.exited.then(check);
    });
    const giveUpAfter = (ms: number) => {
      if (timer) clearTimeout(timer);
      if (!settled) timer = setTimeout(giveUp, Math.max(0, ms));
    };
    if (o.timeoutMs !== undefined) giveUpAfter(o.timeoutMs);
    return { master: m, outcome, giveUpAfter };
  }

  get alive(): boolean {
    return !this.exitedFlag;
  }

  /** the master's last line that is not debug output (why it exited, e.g. "Connection ... closed") */
  lastMessage(): string | undefined {
    const lines = this.log.split(/\r?\n/).filter((l) => l.trim() && !/^(debug\d|OpenSSH_|Transferred: |Bytes per second|Authenticated to )/.test(l));
    return lines.at(-1)?.trim();
  }

  /** SIGTERM to the master's process group (the guard and ssh); synchronous */
  killNow(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitedFlag || !this.child.pid) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      try {
        this.child.kill(signal);
      } catch {
        /* gone */
      }
    }
  }

  /** ends the master: its sessions are already gone or are cut */
  async stop(): Promise<void> {
    this.ready = false; // an exit we asked for is not a lost connection
    this.killNow();
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise<void>((r) => (t = setTimeout(r, 2000)))]);
    if (t) clearTimeout(t);
    if (!this.exitedFlag) this.killNow('SIGKILL');
    // the guard too (it outlives a master that exited by itself); never close its pipe, which
    // would make it remove the runtime directory other hosts' masters still use
    this.killGroup('SIGTERM');
  }

  private killGroup(signal: NodeJS.Signals): void {
    if (!this.child.pid || !this.detached) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      /* the group is gone */
    }
  }
}
