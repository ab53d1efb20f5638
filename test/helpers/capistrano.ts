/**
 * Real Capistrano (Debian's `capistrano`, 3.17) against the test sshd: a throwaway Capfile
 * project whose `:repo_url` is a local git repository, so `cap production deploy` works offline.
 * Used to check that a tree Capistrano wrote and one ee-deploy wrote are usable by the other.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CapProject {
  /** the Capfile project */
  dir: string;
  /** the git work tree Capistrano deploys from (file:// remote) */
  repo: string;
  /** commit the app's files to `repo` and return the new commit's sha */
  commit(files: Record<string, string>, message: string): string;
  /** run `cap production <task...>`; resolves with the exit code and output */
  cap(...task: string[]): Promise<{ code: number; out: string }>;
}

export function hasCapistrano(): boolean {
  try {
    execFileSync('cap', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/**
 * @param home the sshd fixture's HOME (its ~/.ssh/config names the server alias; net-ssh reads it)
 * @param alias the ssh-config Host alias of the server
 * @param deployTo the deploy path on the server (absolute)
 */
export function capProject(home: string, alias: string, user: string, deployTo: string, keep = 3): CapProject {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ee-cap-'));
  const repo = path.join(dir, 'repo');
  mkdirSync(repo);
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'config', 'user.name', 'carol');
  git(repo, 'config', 'user.email', 'carol@example.com');
  writeFileSync(path.join(dir, 'Capfile'), ['require "capistrano/setup"', 'require "capistrano/deploy"', 'require "capistrano/scm/git"', 'install_plugin Capistrano::SCM::Git', ''].join('\n'));
  mkdirSync(path.join(dir, 'config/deploy'), { recursive: true });
  writeFileSync(
    path.join(dir, 'config/deploy.rb'),
    [
      'set :application, "shop"',
      `set :repo_url, ${JSON.stringify(`file://${repo}`)}`,
      'set :branch, "main"',
      `set :deploy_to, ${JSON.stringify(deployTo)}`,
      `set :keep_releases, ${keep}`,
      'set :format, :dot',
      'set :log_level, :info',
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(dir, 'config/deploy/production.rb'), `server ${JSON.stringify(alias)}, user: ${JSON.stringify(user)}, roles: %w{app}\n`);
  return {
    dir,
    repo,
    commit(files, message) {
      for (const [rel, content] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(repo, rel)), { recursive: true });
        writeFileSync(path.join(repo, rel), content);
      }
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', message);
      return git(repo, 'rev-parse', 'HEAD');
    },
    cap(...task) {
      return new Promise((resolve) => {
        execFile(
          'cap',
          ['production', ...task],
          { cwd: dir, env: { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', USER: 'carol' }, timeout: 120_000 },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        );
      });
    },
  };
}
