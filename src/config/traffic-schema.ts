/**
 * `load_balancer:` and `blue_green:` (per environment, beside `strategy`). Built from the main
 * schema's primitives (durations, host and user names) so both files agree on them.
 */
import { z } from 'zod';

type Primitive = z.ZodType<string, string>;

/** names that reach HAProxy's runtime API as words of a command line */
const haproxyName = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be an HAProxy name (letters, digits, _ . : -)');
/** absolute path without shell-special surprises (it is quoted anyway; `,` and `:` would confuse socat) */
const absPath = z.string().regex(/^\/[A-Za-z0-9_.\/@+-]*$/, 'must be an absolute path (letters, digits, _ . / @ + -)');
const shellLine = z.string().min(1).refine((s) => !/[\0\n\r]/.test(s), { message: 'must be one line' });
/** nginx `server` address: host:port or unix:/path */
const upstreamAddress = z.string().regex(/^(?:[A-Za-z0-9_.\[\]:-]+:\d{1,5}|unix:\/[A-Za-z0-9_.\/-]+)$/, 'must be host:port or unix:/path');

export function trafficSchemas(p: { duration: z.ZodType<number, unknown>; hostName: Primitive; userName: Primitive }) {
  const lbHost = { host: p.hostName, user: p.userName.optional(), port: z.number().int().min(1).max(65535).optional() };
  const drainTimeout = p.duration.default(30_000);
  const loadBalancer = z.discriminatedUnion('type', [
    z
      .object({
        type: z.literal('haproxy'),
        ...lbHost,
        socket: absPath,
        backend: haproxyName,
        servers: z.record(z.string(), haproxyName),
        drain_timeout: drainTimeout,
      })
      .strict(),
    z
      .object({
        type: z.literal('nginx'),
        ...lbHost,
        upstream: absPath,
        servers: z.record(z.string(), upstreamAddress),
        reload: shellLine.default('nginx -s reload'),
        drain_timeout: drainTimeout,
      })
      .strict(),
    z.object({ type: z.literal('command'), drain: shellLine, ready: shellLine, drain_timeout: drainTimeout }).strict(),
  ]);
  const blueGreen = z
    .object({
      ports: z
        .array(z.number().int().min(1).max(65535))
        .length(2, 'blue_green.ports needs exactly two ports')
        .refine((a) => a[0] !== a[1], { message: 'the two ports must differ' }),
      start: shellLine,
      stop: shellLine.default('kill $(cat {pidfile})'),
      upstream: absPath,
      reload: shellLine.default('nginx -s reload'),
      drain_timeout: drainTimeout,
      /** path requested on the new process (127.0.0.1:<port> on the host) before the switch */
      health: z.string().regex(/^\/[^\s]*$/, 'must be a path starting with /').default('/'),
      /** how long the new process may take to answer its health path */
      start_timeout: p.duration.default(30_000),
    })
    .strict();
  return { loadBalancer, blueGreen };
}

export type LoadBalancerConfig = z.infer<ReturnType<typeof trafficSchemas>['loadBalancer']>;
export type BlueGreenConfig = z.infer<ReturnType<typeof trafficSchemas>['blueGreen']>;

interface EnvLike {
  strategy: string;
  hosts: { host: string }[];
  load_balancer?: { type: string; servers?: Record<string, string> };
  blue_green?: unknown;
}

/** cross-field rules of an environment: blue_green block <-> strategy, a load-balancer entry per host */
export function checkTraffic(env: EnvLike, ctx: { addIssue(i: { code: 'custom'; path: (string | number)[]; message: string }): void }): void {
  if (env.strategy === 'blue_green' && !env.blue_green) ctx.addIssue({ code: 'custom', path: ['strategy'], message: 'strategy blue_green needs a `blue_green:` block (ports, start, upstream...)' });
  if (env.blue_green && env.strategy !== 'blue_green') ctx.addIssue({ code: 'custom', path: ['blue_green'], message: `a blue_green block needs \`strategy: blue_green\` (it is ${env.strategy})` });
  const servers = env.load_balancer?.servers;
  if (servers) {
    for (const h of env.hosts) {
      if (!Object.hasOwn(servers, h.host)) ctx.addIssue({ code: 'custom', path: ['load_balancer', 'servers'], message: `no entry for host ${h.host} (every host of the environment needs its ${env.load_balancer!.type === 'haproxy' ? 'HAProxy server name' : 'upstream address'})` });
    }
  }
}
