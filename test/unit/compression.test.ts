/**
 * `compress: auto|on|off`: the decision from the measured link (never from the address), and the
 * config keys (per environment, overridden per host).
 */
import { describe, expect, it } from 'vitest';
import { chooseCompression, FAST_LINK_MBIT, windowLimitMbit } from '../../src/deploy/compression.js';
import { parseConfigText } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';

const link = (rttMs: number, mbit: number) => ({ rttMs, mbit, probeBytes: 262144 });

describe('chooseCompression', () => {
  it('auto: a slow link is compressed, whatever its address', () => {
    const c = chooseCompression('auto', { local: false, link: link(41.3, 97.4) });
    expect(c.gzip).toBe(true);
    expect(c.link).toEqual({ rtt_ms: 41.3, mbit: 97.4 });
    expect(c.reason).toBe('compress: auto, measured 41.3 ms round trip, 97 Mbit/s: below 200 Mbit/s');
    expect(chooseCompression('auto', { local: false, link: link(0.2, 5) }).gzip).toBe(true);
  });

  it('auto: a fast link (a LAN, plain loopback) is not', () => {
    const lan = chooseCompression('auto', { local: false, link: link(0.4, 940) });
    expect(lan.gzip).toBe(false);
    expect(lan.reason).toMatch(/at or above 200 Mbit\/s$/);
    expect(chooseCompression('auto', { local: false, link: link(0.1, FAST_LINK_MBIT) }).gzip).toBe(false);
    expect(chooseCompression('auto', { local: false, link: link(0.1, FAST_LINK_MBIT - 1) }).gzip).toBe(true);
  });

  it('auto: a long round trip caps one channel (2 MiB window) even on a fast link', () => {
    expect(Math.round(windowLimitMbit(100))).toBe(168);
    const c = chooseCompression('auto', { local: false, link: link(100, 900) });
    expect(c.gzip).toBe(true);
    expect(c.reason).toContain('one SSH channel carries at most 168 Mbit/s at this round trip');
    expect(chooseCompression('auto', { local: false, link: link(40, 900) }).gzip).toBe(false);
  });

  it('auto without a measure compresses (as for a network link); on/off win over the link; local never', () => {
    expect(chooseCompression('auto', { local: false })).toMatchObject({ gzip: true, reason: expect.stringContaining('link not measured') });
    expect(chooseCompression('on', { local: false, link: link(0.1, 5000) })).toMatchObject({ gzip: true, reason: 'compress: on' });
    expect(chooseCompression('off', { local: false, link: link(80, 2) })).toMatchObject({ gzip: false, reason: 'compress: off' });
    expect(chooseCompression('on', { local: true })).toMatchObject({ gzip: false, reason: expect.stringContaining('local host') });
  });
});

describe('config', () => {
  const cfg = (env: string, host = '') =>
    `project: shop\nenvironments:\n  production:\n${env}    hosts:\n      - host: web1\n        path: /srv/a\n${host}      - host: web2\n        path: /srv/b\n`;
  const hosts = (text: string) => resolveConfig({ file: '/p/ee-deploy.yaml', dir: '/p', raw: parseConfigText(text, '/p/ee-deploy.yaml', {}) }).hosts;

  it('defaults to auto; the environment sets it, a host overrides it', () => {
    expect(hosts(cfg('')).map((h) => h.compress)).toEqual(['auto', 'auto']);
    expect(hosts(cfg('    compress: off\n')).map((h) => h.compress)).toEqual(['off', 'off']);
    expect(hosts(cfg('    compress: off\n', '        compress: on\n')).map((h) => h.compress)).toEqual(['on', 'off']);
  });

  it('anything but auto, on, off is a one-line config error', () => {
    expect(() => parseConfigText(cfg('    compress: yes\n'), '/p/ee-deploy.yaml', {})).toThrow(ConfigError);
    expect(() => parseConfigText(cfg('', '        compress: gzip\n'), '/p/ee-deploy.yaml', {})).toThrow(/compress/);
  });
});
