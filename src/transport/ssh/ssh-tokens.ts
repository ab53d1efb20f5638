/**
 * ssh_config TOKENS (`%h`, `%p`...) and `${VAR}` environment references, expanded per keyword
 * with the tokens OpenSSH allows for it; a token the keyword does not accept is an error naming
 * it, as ssh stops on it too.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { ConfigError } from '../../errors.js';

export interface TokenContext {
  home: string;
  /** HostName (after its own %h) */
  host: string;
  /** the name asked for */
  original: string;
  port: number;
  remoteUser: string;
  /** HostKeyAlias, when set */
  hostKeyAlias?: string;
  /** ProxyJump, when set */
  jump?: string;
}

export function localUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER || process.env.LOGNAME || 'root';
  }
}

/** the tokens each kind of value accepts (ssh_config(5) TOKENS) */
export const TOKENS = {
  hostName: '%h',
  proxyCommand: '%hnpr',
  matchExec: '%Cdhiklnpru',
  all: '%CdhijkLlnpru',
} as const;

function tokenValue(t: string, ctx: TokenContext): string | undefined {
  switch (t) {
    case '%':
      return '%';
    case 'd':
      return ctx.home;
    case 'h':
      return ctx.host;
    case 'n':
      return ctx.original;
    case 'p':
      return String(ctx.port);
    case 'r':
      return ctx.remoteUser;
    case 'u':
      return localUser();
    case 'i':
      return String(process.getuid?.() ?? 0);
    case 'l':
      return os.hostname();
    case 'L':
      return os.hostname().split('.')[0];
    case 'k':
      return ctx.hostKeyAlias ?? ctx.host;
    case 'j':
      return ctx.jump ?? '';
    case 'C':
      return createHash('sha1')
        .update(`${os.hostname()}${ctx.host}${ctx.port}${ctx.remoteUser}${ctx.jump ?? ''}`)
        .digest('hex');
    default:
      return undefined;
  }
}

/** Expand `%x` tokens allowed in `allowed`; any other token is an error naming `keyword`. */
export function expandTokens(value: string, ctx: TokenContext, keyword = 'value', allowed: string = TOKENS.all, at?: string): string {
  return value.replace(/%(.?)/g, (_all, t: string) => {
    const v = allowed.includes(t) && t !== '' ? tokenValue(t, ctx) : undefined;
    if (v === undefined) throw new ConfigError(`${keyword}: unknown token %${t} (${keyword} accepts ${[...allowed].map((c) => `%${c}`).join(' ')})`, at);
    return v;
  });
}

/** `${VAR}` from the environment; an unset one is an error, as in ssh. */
export function expandEnv(value: string, keyword: string, at?: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = process.env[name];
    if (v === undefined) throw new ConfigError(`${keyword}: environment variable ${name} is not set`, at);
    return v;
  });
}
