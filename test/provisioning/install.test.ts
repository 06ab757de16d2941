import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/agent.js';
import { tempDir } from '../support/tmp.js';

// install.sh and uninstall.sh into a scratch root: a directory with the account files of a
// fresh Debian system. Accounts go into that tree only (useradd --prefix), the service is
// enabled there only (systemctl --root): nothing on this machine changes.
const dir = tempDir('lectern-install-');
const root = join(dir.path, 'root');
const INSTALL = join(REPO, 'provisioning/install.sh');
const UNINSTALL = join(REPO, 'provisioning/uninstall.sh');
const canRun = process.getuid?.() === 0 && spawnSync('useradd', ['--help']).status === 0 && spawnSync('systemctl', ['--version']).status === 0;

function freshRoot(): void {
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\ndialout:x:20:\naudio:x:29:\nvideo:x:44:\nplugdev:x:46:\n');
  writeFileSync(join(root, 'etc/gshadow'), 'root:*::\ndialout:*::\naudio:*::\nvideo:*::\nplugdev:*::\n', { mode: 0o640 });
}

/** Every entry of the tree: type, mode, owner, link target, and content (hash; size and mtime under node_modules). */
function snapshot(base: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(base, p);
      const st = lstatSync(p);
      const head = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out[rel] = `link ${head} -> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${head}`;
        walk(p);
      } else if (rel.includes('node_modules/')) out[rel] = `file ${head} ${st.size} ${st.mtimeMs}`;
      else out[rel] = `file ${head} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(base);
  return out;
}

function sh(script: string, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

beforeAll(() => {
  if (!existsSync(join(REPO, 'dist/agent/cli.js'))) throw new Error('build first (npm run build)');
});
afterAll(() => dir.cleanup());

describe.skipIf(!canRun)('install.sh and uninstall.sh in a scratch root', () => {
  it('installs app, command, unit, rules, account and config dir, enabled; a second run leaves the same tree', () => {
    freshRoot();
    const first = sh(INSTALL, '--root', root);
    expect(first.status, first.out).toBe(0);
    const once = snapshot(root);
    const second = sh(INSTALL, '--root', root);
    expect(second.status, second.out).toBe(0);
    expect(second.out).not.toContain('account lectern created');
    expect(snapshot(root)).toEqual(once);

    expect(once['opt/lectern/dist/agent/cli.js']).toMatch(/^file 644 0:0 /);
    expect(once['opt/lectern/agent/bin/lectern']).toMatch(/^file 755 0:0 /);
    expect(once['usr/local/bin/lectern']).toMatch(/-> \/opt\/lectern\/agent\/bin\/lectern$/);
    expect(readFileSync(join(root, 'etc/systemd/system/lectern.service'), 'utf8')).toBe(readFileSync(join(REPO, 'systemd/lectern.service'), 'utf8'));
    expect(readFileSync(join(root, 'etc/udev/rules.d/99-lectern.rules'), 'utf8')).toBe(readFileSync(join(REPO, 'systemd/99-lectern.rules'), 'utf8'));
    expect(once['etc/systemd/system/multi-user.target.wants/lectern.service']).toMatch(/-> \/etc\/systemd\/system\/lectern\.service$/);
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const user = /^lectern:x:(\d+):(\d+):[^:]*:\/var\/lib\/lectern:\/usr\/sbin\/nologin$/m.exec(passwd);
    expect(user, passwd).not.toBeNull();
    const group = readFileSync(join(root, 'etc/group'), 'utf8');
    for (const g of ['dialout', 'audio', 'video', 'plugdev']) expect(group).toMatch(new RegExp(`^${g}:x:\\d+:lectern$`, 'm'));
    expect(once['etc/lectern']).toBe(`dir 750 0:${user![2]}`);
    // /var/lib/lectern is systemd's to make (StateDirectory=).
    expect(existsSync(join(root, 'var/lib/lectern'))).toBe(false);
  });

  it('the installed unit, pointing at the installed launcher, passes systemd-analyze verify', () => {
    const unit = readFileSync(join(root, 'etc/systemd/system/lectern.service'), 'utf8').replace('/opt/lectern/agent/bin/lectern', join(root, 'opt/lectern/agent/bin/lectern'));
    const path = join(dir.path, 'lectern.service');
    writeFileSync(path, unit);
    const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
    const problems = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() && !/user|group/i.test(l));
    expect(problems).toEqual([]);
  });

  it('uninstall keeps config, data and account; --purge removes them', () => {
    writeFileSync(join(root, 'etc/lectern/config.json'), '{}\n', { mode: 0o600 });
    mkdirSync(join(root, 'var/lib/lectern'), { recursive: true });
    writeFileSync(join(root, 'var/lib/lectern/lectern.db'), '');
    const r = sh(UNINSTALL, '--root', root);
    expect(r.status, r.out).toBe(0);
    for (const gone of ['opt/lectern', 'usr/local/bin/lectern', 'etc/systemd/system/lectern.service', 'etc/udev/rules.d/99-lectern.rules', 'etc/systemd/system/multi-user.target.wants/lectern.service']) {
      expect(existsSync(join(root, gone)), gone).toBe(false);
    }
    expect(existsSync(join(root, 'etc/lectern/config.json'))).toBe(true);
    expect(existsSync(join(root, 'var/lib/lectern/lectern.db'))).toBe(true);
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toMatch(/^lectern:/m);

    const purge = sh(UNINSTALL, '--root', root, '--purge');
    expect(purge.status, purge.out).toBe(0);
    expect(existsSync(join(root, 'etc/lectern'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/lectern'))).toBe(false);
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).not.toMatch(/^lectern:/m);
    expect(readFileSync(join(root, 'etc/group'), 'utf8')).not.toMatch(/lectern/);
  });

  it('refuses a root that is not a directory, and unknown options', () => {
    expect(sh(INSTALL, '--root', join(dir.path, 'nope')).status).toBe(2);
    expect(sh(INSTALL, '--frobnicate').status).toBe(2);
  });
});

// The udev rules file: udevadm verify where this udev has it (systemd 254+), and always a
// syntax check of every rule: known keys, match operators on match keys, assignments on
// assignment keys, quoted values, at least one match and one assignment per rule.
const MATCH_KEYS = /^(ACTION|DEVPATH|KERNEL|KERNELS|NAME|SYMLINK|SUBSYSTEM|SUBSYSTEMS|DRIVER|DRIVERS|ATTR\{[^}]+\}|ATTRS\{[^}]+\}|SYSCTL\{[^}]+\}|ENV\{[^}]+\}|CONST\{[^}]+\}|TAG|TAGS|TEST(\{[0-7]+\})?|PROGRAM|RESULT)$/;
const ASSIGN_KEYS = /^(NAME|SYMLINK|OWNER|GROUP|MODE|SECLABEL\{[^}]+\}|ATTR\{[^}]+\}|SYSCTL\{[^}]+\}|ENV\{[^}]+\}|TAG|RUN(\{[a-z]+\})?|LABEL|GOTO|IMPORT\{[a-z]+\}|OPTIONS)$/;

function checkUdevRules(text: string): string[] {
  const problems: string[] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    let matches = 0;
    let assigns = 0;
    const re = /\s*([A-Z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
    let pos = 0;
    while (pos < line.length) {
      re.lastIndex = pos;
      const m = re.exec(line);
      if (!m) {
        problems.push(`line ${i + 1}: cannot parse at "${line.slice(pos, pos + 30)}"`);
        return;
      }
      const [, key, op] = m as unknown as [string, string, string, string];
      if (op === '==' || op === '!=') {
        if (!MATCH_KEYS.test(key)) problems.push(`line ${i + 1}: ${key} cannot be matched`);
        matches++;
      } else {
        if (!ASSIGN_KEYS.test(key)) problems.push(`line ${i + 1}: ${key} cannot be assigned`);
        assigns++;
      }
      pos = re.lastIndex;
    }
    if (!matches || !assigns) problems.push(`line ${i + 1}: a rule needs at least one match and one assignment`);
  });
  return problems;
}

describe('systemd/99-lectern.rules', () => {
  const rules = readFileSync(join(REPO, 'systemd/99-lectern.rules'), 'utf8');

  it('every rule is well formed', () => {
    expect(checkUdevRules(rules)).toEqual([]);
    // The checker itself catches a broken rule.
    expect(checkUdevRules('SUBSYSTEM="tty", GROUP=="dialout"\nKERNEL=="x" MODE="0660"\n')).toHaveLength(3);
  });

  it('names camera adapters under /dev/lectern and gives ports and microphones to dialout and audio', () => {
    const rulesOnly = rules.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    for (const vendor of ['0403', '1a86', '067b']) {
      const r = rulesOnly.filter((l) => l.includes(`ATTRS{idVendor}=="${vendor}"`));
      expect(r.length, vendor).toBeGreaterThan(0);
      for (const l of r) expect(l).toMatch(/SYMLINK\+="lectern\/camera-[^"]+".*GROUP="dialout"/);
    }
    expect(rulesOnly.some((l) => l.includes('SUBSYSTEM=="sound"') && l.includes('GROUP="audio"'))).toBe(true);
  });

  it.skipIf(spawnSync('udevadm', ['verify', '--help']).status !== 0)('udevadm verify accepts it', () => {
    const r = spawnSync('udevadm', ['verify', join(REPO, 'systemd/99-lectern.rules')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
