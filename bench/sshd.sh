#!/usr/bin/env bash
# A private OpenSSH server on 127.0.0.1 for `npm run bench` (never the system's sshd).
#   bench/sshd.sh start | stop | status
# State in $BENCH_WORK (default bench/.work): sshd/ (config, host key, pid, VERBOSE log), the
# client key, known_hosts, ssh_config with aliases `bench` and `bench0`..`bench9` (all this
# server), and home/.ssh/{config,known_hosts} for ee-deploy (which reads ~/.ssh like ssh does).
# Logs in as $BENCH_USER (default `deploy`, created when missing).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="${BENCH_WORK:-$HERE/.work}"
S="$W/sshd"
U="${BENCH_USER:-deploy}"
mkdir -p "$S" "$W/home/.ssh"
chmod 700 "$W/home/.ssh"
say() { echo "[bench/sshd] $*" >&2; }

need_tools() {
  local missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v rsync >/dev/null || missing+=(rsync)
  command -v git >/dev/null || missing+=(git)
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >"$W/apt.log" 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=600 update >>"$W/apt.log" 2>&1 &&
      apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >>"$W/apt.log" 2>&1; }
}

need_user() {
  [ "$U" = root ] && return
  id "$U" >/dev/null 2>&1 || { say "creating user $U"; useradd -m -s /bin/sh "$U"; }
  # a locked account ("!" password) is refused by sshd without PAM even for key logins
  if [ "$(passwd -S "$U" 2>/dev/null | awk '{print $2}')" = L ]; then usermod -p '*' "$U"; fi
}

running() { [ -s "$S/sshd.pid" ] && kill -0 "$(cat "$S/sshd.pid")" 2>/dev/null; }

start() {
  if running; then say "running (pid $(cat "$S/sshd.pid"))"; return; fi
  need_tools
  need_user
  [ -f "$S/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$S/host_key"
  [ -f "$W/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$W/client_key"
  cp "$W/client_key.pub" "$S/authorized_keys" && chmod 644 "$S/authorized_keys"
  mkdir -p /run/sshd && chmod 755 /run/sshd
  local port
  port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  cat >"$S/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $port
HostKey $S/host_key
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $U
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
LogLevel VERBOSE
CFG
  /usr/sbin/sshd -t -f "$S/sshd_config"
  : >"$S/sshd.log"
  setsid /usr/sbin/sshd -D -f "$S/sshd_config" -E "$S/sshd.log" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 100); do grep -q 'Server listening' "$S/sshd.log" 2>/dev/null && [ -s "$S/sshd.pid" ] && break; sleep 0.05; done
  running || { say "sshd did not start"; cat "$S/sshd.log" >&2; exit 1; }
  echo "$port" >"$W/port"
  local key; key="$(cut -d' ' -f1,2 "$S/host_key.pub")"
  printf '[127.0.0.1]:%s %s\n' "$port" "$key" >"$W/known_hosts"
  {
    echo "Host bench bench0 bench1 bench2 bench3 bench4 bench5 bench6 bench7 bench8 bench9"
    echo "  HostName 127.0.0.1"
    echo "  Port $port"
    echo "  User $U"
    echo "  IdentityFile $W/client_key"
    echo "  IdentitiesOnly yes"
    echo "  UserKnownHostsFile $W/known_hosts"
    echo "  GlobalKnownHostsFile /dev/null"
    echo "  StrictHostKeyChecking yes"
    echo "  BatchMode yes"
    echo "  ControlMaster no"
    echo "  ControlPath none"
  } >"$W/ssh_config"
  cp "$W/ssh_config" "$W/home/.ssh/config" && cp "$W/known_hosts" "$W/home/.ssh/known_hosts"
  chmod 600 "$W/home/.ssh/config" "$W/home/.ssh/known_hosts"
  ssh -F "$W/ssh_config" bench true || { say "ssh smoke test failed"; tail "$S/sshd.log" >&2; exit 1; }
  say "sshd pid $(cat "$S/sshd.pid") on 127.0.0.1:$port, user $U"
}

stop() {
  if running; then
    local pid; pid="$(cat "$S/sshd.pid")"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    say "stopped pid $pid"
  fi
  rm -f "$S/sshd.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running pid $(cat "$S/sshd.pid") port $(cat "$W/port")"; else echo stopped; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
