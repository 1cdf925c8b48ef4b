#!/usr/bin/env bash
# A real single-node Slurm (22.05, Debian bookworm) with accounting, for developing and
# testing proctor's Slurm executor on one machine: root, no systemd (every daemon is
# started by hand), any cgroup layout. ../shared/SLURM.md records why each setting is here.
#
#   scripts/slurm-cluster.sh up       install what is missing, configure, start, wait until ready
#   scripts/slurm-cluster.sh down     stop the daemons `up` started (by their pid files), nothing else
#   scripts/slurm-cluster.sh status   say which daemons answer; exit 0 only when all five do
#   scripts/slurm-cluster.sh podman-load IMAGE   copy a docker image into podman (when it differs)
#
# `up` is idempotent: a daemon that already answers is left alone (and not recorded, so
# `down` will not stop it). Changing slurm.conf restarts the slurmctld and slurmd that up
# started. Install: slurm-wlm munge slurmdbd mariadb-server podman catatonit, without
# recommends (with them slurm-wlm pulls 42 packages). Needs root.
set -euo pipefail

STATE_DIR=${PROCTOR_SLURM_STATE:-/run/proctor-slurm}  # what up started, one name a line
STARTED="$STATE_DIR/started"
CONF_DIR=/etc/slurm
SLURM_CONF="$CONF_DIR/slurm.conf"
DBD_CONF="$CONF_DIR/slurmdbd.conf"
EPILOG="$CONF_DIR/proctor-epilog.sh"
CONTAINERS_CONF=/etc/containers/containers.conf
MARK="# Written by proctor scripts/slurm-cluster.sh"
PACKAGES=(slurm-wlm munge slurmdbd mariadb-server podman catatonit)
READY_WAIT_S=${PROCTOR_SLURM_WAIT_S:-60}
KILL_WAIT_S=10  # scancel/timeout: SIGTERM, then SIGKILL this much later (run.sbatch stops its container within it)

log() { printf '[slurm-cluster] %s\n' "$*"; }
die() { printf '[slurm-cluster] error: %s\n' "$*" >&2; exit 1; }

alive() {  # pid running and not a zombie
    [[ "$1" =~ ^[0-9]+$ ]] && [[ -r "/proc/$1/stat" ]] \
        && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# -- readiness probes (each returns 0 when the daemon answers) ------------------------------

ready_munged() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
ready_mariadbd() { mysqladmin --connect-timeout=2 ping >/dev/null 2>&1; }
ready_slurmdbd() { timeout 5 sacctmgr -n show cluster >/dev/null 2>&1; }
ready_slurmctld() { timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }
ready_slurmd() {
    local state
    state="$(timeout 5 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n1)" || return 1
    [[ "$state" =~ ^(idle|mixed|allocated|completing)$ ]]
}

pid_file() {
    case "$1" in
        munged) echo /run/munge/munged.pid ;;
        mariadbd) echo /run/mysqld/mysqld.pid ;;
        slurmdbd) echo /run/slurm/slurmdbd.pid ;;
        slurmctld) echo /run/slurm/slurmctld.pid ;;
        slurmd) echo /run/slurm/slurmd.pid ;;
    esac
}

record() { mkdir -p "$STATE_DIR"; grep -qx "$1" "$STARTED" 2>/dev/null || echo "$1" >>"$STARTED"; }
recorded() { grep -qx "$1" "$STARTED" 2>/dev/null; }

wait_ready() {  # NAME LOGFILE
    local name=$1 logfile=$2 deadline=$((SECONDS + READY_WAIT_S)) pid
    until "ready_$name"; do
        pid="$(cat "$(pid_file "$name")" 2>/dev/null || true)"
        if ((SECONDS > deadline)); then
            echo "[slurm-cluster] $name did not answer within ${READY_WAIT_S} s; last lines of $logfile:" >&2
            tail -n 20 "$logfile" >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.2
    done
    log "$name ready (pid $(cat "$(pid_file "$name")" 2>/dev/null || echo '?'))"
}

stop_daemon() {  # NAME: by its pid file; TERM, then KILL after 30 s
    local name=$1 pid
    pid="$(cat "$(pid_file "$name")" 2>/dev/null || true)"
    if ! alive "$pid"; then
        log "$name: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then
        log "$name (pid $pid) did not stop within 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    log "$name stopped (pid $pid)"
}

# -- install and configure --------------------------------------------------------------------

install_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them yourself"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The package scripts try to start the daemons; without systemd that fails noisily.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
}

write_if_changed() {  # PATH MODE OWNER; content on stdin. Returns 0 when the file changed.
    local path=$1 mode=$2 owner=$3 tmp
    tmp="$(mktemp "$path.XXXXXX")"
    cat >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    if [[ -f "$path" ]] && cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
        return 1
    fi
    mv -f "$tmp" "$path"
    return 0
}

ours_or_absent() { [[ ! -e "$1" ]] || head -n1 "$1" | grep -qF "$MARK"; }

configure() {
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o mysql -g mysql -m 0755 /run/mysqld
    install -d -o slurm -g slurm -m 0755 /run/slurm /var/lib/slurm/slurmctld /var/log/slurm
    install -d -m 0755 /var/lib/slurm/slurmd
    getent hosts "$NODE" >/dev/null || echo "127.0.0.1 $NODE" >>/etc/hosts

    ours_or_absent "$SLURM_CONF" || die "$SLURM_CONF exists and was not written by this script; not touching it"
    ours_or_absent "$DBD_CONF" || die "$DBD_CONF exists and was not written by this script; not touching it"

    local password
    password="$(sed -n 's/^StoragePass=//p' "$DBD_CONF" 2>/dev/null || true)"
    [[ -n "$password" ]] || password="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    write_if_changed "$DBD_CONF" 600 slurm:slurm <<EOF || true
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=$password
StorageLoc=slurm_acct_db
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
EOF
    DB_PASSWORD=$password

    write_if_changed "$EPILOG" 755 root:root <<'EOF' || true
#!/bin/sh
# Written by proctor scripts/slurm-cluster.sh
# A backstop after every job: remove containers the job left behind (run.sbatch labels them
# proctor.slurm-job=<job id> and stops them itself; this catches a SIGKILLed script).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[ -n "${SLURM_JOB_ID:-}" ] || exit 0
for runtime in docker podman; do
    command -v "$runtime" >/dev/null 2>&1 || continue
    ids=$("$runtime" ps -aq --filter "label=proctor.slurm-job=$SLURM_JOB_ID" 2>/dev/null) || continue
    [ -n "$ids" ] && "$runtime" rm -f $ids >/dev/null 2>&1
done
exit 0
EOF

    # The node line as slurmd itself measures it (CPUs, boards, sockets, cores, memory).
    local hw
    hw="$(slurmd -C | head -n1 | sed 's/^NodeName=[^ ]* //; s/ UpTime=.*//')"
    if write_if_changed "$SLURM_CONF" 644 root:root <<EOF; then CONF_CHANGED=1; fi
$MARK
ClusterName=proctor
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No systemd, portable: linuxproc tracks processes, no task confinement.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# Cores and memory are consumable; without DefMemPerCPU every job takes the whole node.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
# The SchedulerParameters spelling is ignored in 22.05.
DependencyParameters=kill_invalid_depend
KillWait=$KILL_WAIT_S
MinJobAge=300
MailProg=/bin/true
ReturnToService=2
Epilog=$EPILOG
NodeName=$NODE NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

    # Rootful podman here lacks CAP_SYS_RESOURCE: its default ulimits exceed the hard limits.
    local nofile nproc
    nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
    [[ "$nofile" == unlimited ]] && nofile=1048576
    # Equal to the hard limit is refused for nproc here; lower is always allowed.
    if [[ "$nproc" == unlimited ]] || ((nproc > 32768)); then nproc=32768; fi
    mkdir -p "$(dirname "$CONTAINERS_CONF")"
    if ours_or_absent "$CONTAINERS_CONF"; then
        write_if_changed "$CONTAINERS_CONF" 644 root:root <<EOF || true
$MARK
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
EOF
    else
        log "$CONTAINERS_CONF is not ours; if podman says 'error setting rlimit', set default_ulimits there"
    fi
}

# -- start ---------------------------------------------------------------------------------

start_munged() {
    ready_munged && return 0
    runuser -u munge -- /usr/sbin/munged
    record munged
    wait_ready munged /var/log/munge/munged.log
}

start_mariadbd() {
    if ! ready_mariadbd; then
        setsid mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
            >>/var/log/slurm/mariadbd.out 2>&1 </dev/null &
        record mariadbd
        wait_ready mariadbd /var/log/slurm/mariadbd.out
    fi
    # Unix-socket auth as root. The slurm user's password comes from slurmdbd.conf.
    mysql -u root <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
    ready_slurmdbd && return 0
    slurmdbd
    record slurmdbd
    wait_ready slurmdbd /var/log/slurm/slurmdbd.log
}

start_slurmctld() {
    if ready_slurmctld && ((CONF_CHANGED)); then
        recorded slurmctld || die "slurm.conf changed but slurmctld was not started by this script: restart it yourself"
        stop_daemon slurmctld
    fi
    ready_slurmctld && return 0
    slurmctld
    record slurmctld
    wait_ready slurmctld /var/log/slurm/slurmctld.log
}

start_slurmd() {
    local pid
    pid="$(cat "$(pid_file slurmd)" 2>/dev/null || true)"
    if alive "$pid" && ((CONF_CHANGED)); then
        recorded slurmd || die "slurm.conf changed but slurmd was not started by this script: restart it yourself"
        stop_daemon slurmd
    fi
    pid="$(cat "$(pid_file slurmd)" 2>/dev/null || true)"
    if ! alive "$pid"; then
        slurmd
        record slurmd
    fi
    # A node that was down (slurmd stopped with jobs on it) comes back with a resume.
    local state
    state="$(timeout 5 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n1 || true)"
    if [[ "$state" == down* || "$state" == drain* ]]; then
        scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
    fi
    wait_ready slurmd /var/log/slurm/slurmd.log
}

up() {
    local t0=$SECONDS
    [[ $EUID -eq 0 ]] || die "needs root (it installs packages and starts system daemons)"
    install_packages
    CONF_CHANGED=0
    configure
    start_munged
    start_mariadbd
    start_slurmdbd
    start_slurmctld
    start_slurmd
    log "up in $((SECONDS - t0)) s: $(sinfo -h -o '%P %D node(s) %T' | head -n1)"
}

down() {
    [[ $EUID -eq 0 ]] || die "needs root"
    if [[ ! -s "$STARTED" ]]; then
        log "nothing to stop (no daemon was started by slurm-cluster.sh up)"
        return 0
    fi
    local name
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        recorded "$name" && stop_daemon "$name"
    done
    rm -f "$STARTED"
}

status() {
    local name rc=0
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if "ready_$name"; then
            echo "$name: up$(recorded "$name" && echo ' (started by slurm-cluster.sh)')"
        else
            echo "$name: down"
            rc=1
        fi
    done
    return $rc
}

podman_load() {  # IMAGE: docker save | podman load, unless podman has the same image id
    local image=${1:?usage: slurm-cluster.sh podman-load IMAGE} want have
    want="$(docker image inspect -f '{{.Id}}' "$image")" || die "docker has no image $image"
    have="$(podman image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
    if [[ "sha256:$have" == "$want" || "$have" == "$want" ]]; then
        log "podman already has $image"
        return 0
    fi
    docker save "$image" | podman load -q >/dev/null
    log "loaded $image into podman"
}

NODE="$(hostname -s)"
case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    podman-load) podman_load "${2:-}" ;;
    *) echo "usage: $0 up|down|status|podman-load IMAGE" >&2; exit 2 ;;
esac
