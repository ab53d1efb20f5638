/**
 * Typed errors. Each carries its exit code (README: Exit codes); the CLI maps them in one place
 * (src/cli/run.ts). Messages are one line and must never contain secret values.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  connection: 3,
  locked: 4,
  needsHuman: 5,
  policy: 6,
  integrity: 7,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class EeError extends Error {
  readonly exitCode: ExitCodeValue;
  /** host the error happened on, when known */
  host?: string;
  /** pipeline step the error happened in, when known */
  step?: string;
  /** what the run did before failing (per-host outcomes), for --json */
  result?: unknown;
  constructor(message: string, exitCode: ExitCodeValue, options?: { cause?: unknown; host?: string; step?: string }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.host = options?.host;
    this.step = options?.step;
  }
}

/** Bad flags or arguments. Nothing was touched. */
export class UsageError extends EeError {
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

/** Invalid config; `location` is `file:line:col` when known. Nothing was touched. */
export class ConfigError extends EeError {
  constructor(message: string, readonly location?: string) {
    super(location ? `${location}: ${message}` : message, ExitCode.usage);
  }
}

/** Connection, authentication or host-key problem. */
export class ConnectionError extends EeError {
  constructor(message: string, options?: { cause?: unknown; host?: string; step?: string }) {
    super(message, ExitCode.connection, options);
  }
}

export class HostKeyError extends ConnectionError {}

export interface LockHolder {
  user: string;
  machine: string;
  pid: number;
  time: string;
  message?: string;
  command?: string;
}

/** The deploy lock is held by someone else. */
export class LockHeldError extends EeError {
  constructor(message: string, readonly holder?: LockHolder, host?: string) {
    super(message, ExitCode.locked, { host });
  }
}

/** The deploy failed and every host is back where it was. */
export class DeployError extends EeError {
  constructor(message: string, options?: { cause?: unknown; host?: string; step?: string }) {
    super(message, ExitCode.failed, options);
  }
}

/** A remote command exited non-zero. */
export class RemoteCommandError extends DeployError {
  constructor(
    message: string,
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
    options?: { host?: string; step?: string },
  ) {
    super(message, options);
  }
}

export interface HostState {
  host: string;
  state: string;
  current?: string;
}

/** Failed and the automatic rollback failed too: a human must look (exit 5). */
export class NeedsHumanError extends EeError {
  constructor(message: string, readonly hosts: HostState[]) {
    super(message, ExitCode.needsHuman);
  }
}

/**
 * Refused by deploy policy (window, freeze, approvals, signed commits, deployers): nothing was
 * touched. `rule` names the rule; `nextAllowed` (ISO) is set for windows and freezes.
 */
export class PolicyError extends EeError {
  constructor(
    message: string,
    readonly rule: string,
    readonly nextAllowed?: string,
    readonly request?: string,
  ) {
    super(message, ExitCode.policy);
  }
}

/** An integrity check failed: `verify` found drift, `audit verify` a broken or unsigned history. */
export class IntegrityError extends EeError {
  constructor(message: string) {
    super(message, ExitCode.integrity);
  }
}

/** SIGINT/SIGTERM; cleanup ran. */
export class InterruptedError extends EeError {
  constructor(message = 'interrupted') {
    super(message, ExitCode.interrupted);
  }
}
