import { describe, expect, it } from 'vitest';
import { lbFailure } from '../../src/remote/traffic/lb.js';
import { maintenanceFailure, maintenanceOffScript, maintenanceOnScript, parseMaintenance } from '../../src/remote/traffic/maintenance.js';

describe('maintenance scripts', () => {
  it('on: the document travels as one quoted variable and is renamed into place', () => {
    const c = maintenanceOnScript('/srv/shop', { message: "it's $(reboot) `x`", user: 'alice', since: '2026-01-01T00:00:00.000Z' });
    expect(c.text).toContain(`DOC='{"message":"it'\\''s $(reboot) \`x\`","user":"alice","since":"2026-01-01T00:00:00.000Z"}'`);
    expect(c.text).toContain('F=/srv/shop/shared/maintenance.json');
    expect(c.text).toMatch(/> "\$T" && mv -f "\$T" "\$F"/);
  });
  it('off removes only the file', () => {
    expect(maintenanceOffScript('/srv/a b').text).toContain(`F='/srv/a b/shared/maintenance.json'`);
  });
  it('parses on (with and without a readable document) and off; the last marker wins', () => {
    expect(parseMaintenance('@@ee maintenance on {"message":"m","user":"u","since":"s"}\n')).toEqual({ on: true, doc: { message: 'm', user: 'u', since: 's' } });
    expect(parseMaintenance('@@ee maintenance on hand-written\n')).toEqual({ on: true });
    expect(parseMaintenance('@@ee maintenance on {"message":"m"}\n@@ee maintenance off\n')).toEqual({ on: false });
    expect(parseMaintenance('noise\n')).toBeUndefined();
  });
  it("a failure's reason: the last `failed` tag of its own kind, nothing for other output", () => {
    const err = 'mv: cannot move\n@@ee maintenance failed cannot write /srv/a/shared/maintenance.json\n@@ee lb failed other kind\n';
    expect(maintenanceFailure(err)).toBe('cannot write /srv/a/shared/maintenance.json');
    expect(lbFailure(err)).toBe('other kind');
    expect(maintenanceFailure('mv: cannot move\n')).toBeUndefined();
  });
});
