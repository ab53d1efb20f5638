/**
 * `secrets edit`: the scope's values as NAME=VALUE lines in a private temp file (a 0700
 * directory, the file 0600), `$VISUAL`/`$EDITOR` on it, the result parsed and re-encrypted.
 * The plaintext file is removed afterwards whatever happens (editor failure, parse error, signal).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { DotenvError, parseDotenv, renderDotenv } from './dotenv.js';

export interface EditResult {
  values: Record<string, string>;
  changed: boolean;
}

function runEditor(editor: string, file: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    // like git: the editor setting is a shell command line (it may carry flags), the file its last argument
    const child = spawn('sh', ['-c', `${editor} "$1"`, 'editor', file], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
}

export async function editValues(current: Record<string, string>, opts: { editor?: string; header: string }): Promise<EditResult> {
  const editor = opts.editor ?? process.env.VISUAL ?? process.env.EDITOR ?? (process.stdin.isTTY ? 'vi' : undefined);
  if (!editor) throw new UsageError('secrets edit needs an editor: set $EDITOR (stdin is not a terminal)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-deploy-secrets-'));
  try {
    chmodSync(dir, 0o700);
    const file = path.join(dir, 'secrets.env');
    const before = `${opts.header.split('\n').map((l) => `# ${l}`).join('\n')}\n${renderDotenv(current)}`;
    writeFileSync(file, before, { mode: 0o600 });
    const code = await runEditor(editor, file);
    if (code !== 0) throw new UsageError(`editor exited with ${code ?? 'a signal'}; nothing changed`);
    const after = readFileSync(file, 'utf8');
    let values: Record<string, string>;
    try {
      values = parseDotenv(after);
    } catch (e) {
      if (e instanceof DotenvError) throw new UsageError(`secrets edit: ${e.message}; nothing changed`);
      throw e;
    }
    const changed = JSON.stringify(Object.entries(values).sort()) !== JSON.stringify(Object.entries(current).sort());
    return { values, changed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
