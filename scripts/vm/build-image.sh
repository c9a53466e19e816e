#!/usr/bin/env bash
# Builds the throwaway test guest: a Debian 12 (bookworm) root filesystem made
# from Debian packages only, as an ext4 image without a partition table
# (root=/dev/vda), plus the kernel and initrd that QEMU boots directly and an
# SSH key pair authorised for root. See docs/vm.md.
#
#   scripts/vm/build-image.sh            build if needed, print the image dir
#   scripts/vm/build-image.sh --force    rebuild even if a cached image exists
#
# Output: $IMMUTABLE_AUDIT_VM_CACHE (default $REPO/.cache/vm)/images/<key>/
#   base.qcow2 vmlinuz initrd.img id_ed25519 id_ed25519.pub image.json
# and the symlink .../current -> images/<key>. <key> hashes this script, the
# package lists and the suite, so an unchanged second call returns at once.
# The last line on stdout is the absolute image directory; progress goes to
# stderr.
#
# Safety: the kernel audit state of this machine is global. Nothing here may
# start auditd on the host: the chroot carries a policy-rc.d that forbids
# every service start while packages are configured (removed from the image
# at the end so the guest's auditd starts at boot), and auditctl is never run.
set -euo pipefail
umask 022

script_path=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$script_path")/../.." && pwd)
cache=${IMMUTABLE_AUDIT_VM_CACHE:-$repo/.cache/vm}

SUITE=bookworm
DISK_SIZE=3G
GUEST_HOSTNAME=audit-guest
# debootstrap --include (minbase + what Ansible, sshd and the audit tests need)
BASE_PKGS="systemd-sysv udev dbus python3 python3-apt openssh-server auditd e2fsprogs sudo iproute2 procps kmod ca-certificates less stress-ng"
# installed in the chroot afterwards (initramfs-tools first, so that its
# configuration is in place before the kernel's postinst builds the initrd)
BOOT_PKGS_1="initramfs-tools zstd"
BOOT_PKGS_2="linux-image-cloud-amd64"
INITRD_MODULES="virtio_pci virtio_blk virtio_net"

# fd 3: the caller's stderr, also from traps that fire inside a redirected step
exec 3>&2
log() { printf 'build-image: [%3ss] %s\n' "$SECONDS" "$*" >&3; }
die() { printf 'build-image: ERROR: %s\n' "$*" >&3; exit 1; }

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  -h|--help) sed -n '2,20p' "$script_path" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (use --force or nothing)" ;;
esac

# Prerequisites needed to use an image at all.
for tool in qemu-system-x86_64 qemu-img ssh; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found: run scripts/bootstrap.sh (Debian packages qemu-system-x86 qemu-utils openssh-client)"
done

key=$( { cat "$script_path"; printf '%s\n' "$SUITE" "$DISK_SIZE" "$BASE_PKGS" "$BOOT_PKGS_1" "$BOOT_PKGS_2" "$INITRD_MODULES"; } | sha256sum | cut -c1-16)
images="$cache/images"
out="$images/$key"

publish_current() {
  ln -sfn "images/$key" "$cache/.current.$$"
  mv -Tf "$cache/.current.$$" "$cache/current"
}

if [ "$force" = 0 ] && [ -f "$out/image.json" ]; then
  [ "$(readlink "$cache/current" 2>/dev/null)" = "images/$key" ] || publish_current 2>/dev/null || true
  printf '%s\n' "$out"
  exit 0
fi

# Prerequisites of a build.
[ "$(id -u)" -eq 0 ] || die "building the image needs root (debootstrap, chroot, mount); run as root or use a cached image"
for tool in debootstrap mkfs.ext4 ssh-keygen chroot mount umount flock sha256sum zstd; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found: run scripts/bootstrap.sh (Debian packages debootstrap e2fsprogs openssh-client zstd)"
done
[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || die "/usr/share/keyrings/debian-archive-keyring.gpg missing: apt-get install debian-archive-keyring"

# The Debian mirror this machine already uses (only it is reachable here);
# IMMUTABLE_AUDIT_VM_MIRROR overrides.
detect_mirror() {
  local f m
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [ -r "$f" ] || continue
    case "$f" in
      *.sources) m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f") ;;
      *) m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):.*\/debian\/?$/) { print $i; exit } }' "$f") ;;
    esac
    if [ -n "$m" ]; then printf '%s\n' "${m%/}"; return 0; fi
  done
  printf '%s\n' "http://deb.debian.org/debian"
}
MIRROR=${IMMUTABLE_AUDIT_VM_MIRROR:-$(detect_mirror)}

mkdir -p "$cache" "$images" "$cache/debs/debootstrap" "$cache/debs/apt/partial"

# One build at a time per cache; a waiting caller reuses the finished image.
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  log "another build holds $cache/.build.lock; waiting"
  flock 9
fi
if [ "$force" = 0 ] && [ -f "$out/image.json" ]; then
  publish_current
  printf '%s\n' "$out"
  exit 0
fi

# Leftovers of interrupted builds: make sure nothing is still mounted in them
# before removing (rm --one-file-system never follows into a mount).
for stale in "$images"/.tmp.*; do
  [ -d "$stale" ] || continue
  grep -q " $stale/" /proc/mounts && { log "stale $stale still has mounts; leaving it"; continue; }
  rm -rf --one-file-system "$stale"
done

start_ts=$(date +%s)
tmp=$(mktemp -d "$images/.tmp.$key.XXXXXX")
rootfs="$tmp/rootfs"

mounted=()
child=
# Long steps run in the background and are waited for, so that a TERM or INT
# is handled at once (bash defers traps while a foreground child runs).
run() { "$@" & child=$!; wait "$child"; }
kill_tree() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
  kill -TERM "$1" 2>/dev/null
}
cleanup() {
  local rc=$? i pid
  set +e
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill_tree "$child"
    wait "$child" 2>/dev/null
  fi
  # Kill anything that is still running inside the chroot.
  if [ -d "$rootfs" ]; then
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
      [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$rootfs" ] && kill -9 "$pid" 2>/dev/null
    done
  fi
  for (( i=${#mounted[@]}-1; i>=0; i-- )); do
    umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" 2>/dev/null
  done
  if grep -q " $tmp/" /proc/mounts; then
    log "WARNING: mounts remain under $tmp; not removing it"
  else
    rm -rf --one-file-system "$tmp"
  fi
  [ $rc -ne 0 ] && log "FAILED (exit $rc); nothing was published"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bind() { # bind SRC DST
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounted+=("$2")
}
in_chroot() {
  chroot "$rootfs" /usr/bin/env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true "$@"
}

log "building $SUITE image $key from $MIRROR (cache $cache)"

# Stage 1 only unpacks; the forbidding policy-rc.d goes in before a single
# maintainer script runs in stage 2.
log "debootstrap stage 1"
run debootstrap --foreign --variant=minbase --arch=amd64 \
  --include="${BASE_PKGS// /,}" \
  --cache-dir="$cache/debs/debootstrap" \
  "$SUITE" "$rootfs" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 \
  || { tail -n 30 "$tmp/debootstrap.log" >&2; die "debootstrap stage 1 failed"; }

install -d -m 755 "$rootfs/usr/sbin"
printf '#!/bin/sh\n# build-image.sh: no service may start while the image is built\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"

mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
# No documentation, manuals or translations in the guest (smaller image,
# faster mkfs); stage 2 unpacks every package again, so this applies to all.
# dpkg without fsync: nothing here needs to survive a host crash (the guest
# keeps it too: its package installs are throwaway as well).
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/90immutable-audit-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
echo force-unsafe-io > "$rootfs/etc/dpkg/dpkg.cfg.d/90immutable-audit-unsafe-io"

log "debootstrap stage 2"
run chroot "$rootfs" /debootstrap/debootstrap --second-stage >"$tmp/debootstrap2.log" 2>&1 \
  || { tail -n 30 "$tmp/debootstrap2.log" >&2; tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null; die "debootstrap stage 2 failed"; }

bind /proc "$rootfs/proc"
bind /sys "$rootfs/sys"
bind /dev "$rootfs/dev"
bind /dev/pts "$rootfs/dev/pts"
bind "$cache/debs/apt" "$rootfs/var/cache/apt/archives"

cat > "$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
EOF
# Keep downloaded .debs (in the bind-mounted cache) and install nothing extra.
cat > "$rootfs/etc/apt/apt.conf.d/90immutable-audit" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Keep-Downloaded-Packages "true";
Binary::apt::APT::Keep-Downloaded-Packages "true";
EOF

log "apt-get update"
run in_chroot apt-get -q update >"$tmp/apt.log" 2>&1 || { tail -n 30 "$tmp/apt.log" >&2; die "apt-get update in the chroot failed"; }
log "installing $BOOT_PKGS_1"
run in_chroot apt-get -y -q install $BOOT_PKGS_1 >>"$tmp/apt.log" 2>&1 || { tail -n 30 "$tmp/apt.log" >&2; die "installing $BOOT_PKGS_1 failed"; }

# Small initrd with just what finds the root disk; the cloud kernel has
# virtio_blk as a module, so there must be an initrd.
sed -i 's/^MODULES=.*/MODULES=list/' "$rootfs/etc/initramfs-tools/initramfs.conf"
grep -q '^MODULES=list' "$rootfs/etc/initramfs-tools/initramfs.conf" || echo 'MODULES=list' >> "$rootfs/etc/initramfs-tools/initramfs.conf"
printf '%s\n' $INITRD_MODULES > "$rootfs/etc/initramfs-tools/modules"

log "installing $BOOT_PKGS_2"
run in_chroot apt-get -y -q install $BOOT_PKGS_2 >>"$tmp/apt.log" 2>&1 || { tail -n 30 "$tmp/apt.log" >&2; die "installing $BOOT_PKGS_2 failed"; }

kver=$(ls "$rootfs/lib/modules" | sort -V | tail -n 1)
[ -n "$kver" ] && [ -f "$rootfs/boot/vmlinuz-$kver" ] || die "no kernel found in the chroot"
if grep -q '^CONFIG_EXT4_FS=m' "$rootfs/boot/config-$kver"; then
  echo ext4 >> "$rootfs/etc/initramfs-tools/modules"
  in_chroot update-initramfs -u -k "$kver" >>"$tmp/apt.log" 2>&1 || die "update-initramfs failed"
fi
[ -f "$rootfs/boot/initrd.img-$kver" ] || die "no initrd built for $kver"

log "configuring the guest"
echo "$GUEST_HOSTNAME" > "$rootfs/etc/hostname"
cat > "$rootfs/etc/hosts" <<EOF
127.0.0.1 localhost
127.0.1.1 $GUEST_HOSTNAME
::1 localhost ip6-localhost ip6-loopback
EOF
cat > "$rootfs/etc/fstab" <<'EOF'
# root is /dev/vda (no partition table), mounted rw by the kernel command line
/dev/vda  /  ext4  defaults,errors=remount-ro  0  0
EOF
# QEMU user-mode networking: DHCP on the virtio NIC, DNS at 10.0.2.3.
mkdir -p "$rootfs/etc/systemd/network"
cat > "$rootfs/etc/systemd/network/20-wired.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
rm -f "$rootfs/etc/resolv.conf"
echo "nameserver 10.0.2.3" > "$rootfs/etc/resolv.conf"

# SSH: a key pair made here, root may log in with it only.
ssh-keygen -q -t ed25519 -N '' -C "immutable-audit-vm-$key" -f "$tmp/id_ed25519"
install -d -m 700 "$rootfs/root/.ssh"
install -m 600 "$tmp/id_ed25519.pub" "$rootfs/root/.ssh/authorized_keys"
mkdir -p "$rootfs/etc/ssh/sshd_config.d"
cat > "$rootfs/etc/ssh/sshd_config.d/10-immutable-audit.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
ls "$rootfs"/etc/ssh/ssh_host_*_key >/dev/null 2>&1 || in_chroot ssh-keygen -A >/dev/null

# Units: what the guest needs, and nothing that burns emulated CPU.
in_chroot systemctl enable systemd-networkd.service ssh.service auditd.service serial-getty@ttyS0.service >/dev/null 2>&1 \
  || die "systemctl enable failed in the chroot"
in_chroot systemctl mask \
  apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
  e2scrub_all.timer e2scrub_all.service e2scrub_reap.service fstrim.timer fstrim.service \
  systemd-timesyncd.service systemd-networkd-wait-online.service \
  dpkg-db-backup.timer man-db.timer >/dev/null 2>&1 || die "systemctl mask failed in the chroot"
# A reproducible-enough clock source for the guest: the RTC (host time).

# Finish: no policy in the image, no build-time leftovers.
rm -f "$rootfs/usr/sbin/policy-rc.d"
for (( i=${#mounted[@]}-1; i>=0; i-- )); do
  umount "${mounted[$i]}" || die "could not unmount ${mounted[$i]}"
done
mounted=()
# Package lists go too (they are stale soon anyway): installed packages are
# known from dpkg's status; a task that installs something new must update
# the cache first (the guest reaches the mirror through QEMU's NAT).
rm -rf --one-file-system "$rootfs/var/cache/apt/archives"/* "$rootfs/var/log/apt"/* "$rootfs/tmp"/* \
  "$rootfs/var/lib/apt/lists"/* "$rootfs/var/cache/apt"/*.bin "$rootfs/run"/* \
  "$rootfs/usr/share/man"/* "$rootfs/usr/share/info"/* 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf --one-file-system {} + 2>/dev/null || true
mkdir -p "$rootfs/var/lib/apt/lists/partial"
mkdir -p "$rootfs/var/cache/apt/archives/partial"
rm -f "$rootfs/var/log/bootstrap.log"

log "kernel $kver"
cp "$rootfs/boot/vmlinuz-$kver" "$tmp/vmlinuz"
cp "$rootfs/boot/initrd.img-$kver" "$tmp/initrd.img"

log "mkfs.ext4 -d ($DISK_SIZE) and qemu-img convert"
run mkfs.ext4 -q -F -L root -d "$rootfs" "$tmp/base.raw" "$DISK_SIZE" >"$tmp/mkfs.log" 2>&1 \
  || { cat "$tmp/mkfs.log" >&2; die "mkfs.ext4 -d failed"; }
rm -rf --one-file-system "$rootfs"
run qemu-img convert -O qcow2 "$tmp/base.raw" "$tmp/base.qcow2"
rm -f "$tmp/base.raw"
# The base image is only ever a backing file: nothing may write to it.
chmod 444 "$tmp/base.qcow2"
chmod 600 "$tmp/id_ed25519"
chmod 755 "$tmp"

cat > "$tmp/image.json" <<EOF
{
  "key": "$key",
  "suite": "$SUITE",
  "mirror": "$MIRROR",
  "kernel_version": "$kver",
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "build_seconds": $(( $(date +%s) - start_ts )),
  "base": "base.qcow2",
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "identity_file": "id_ed25519",
  "user": "root"
}
EOF
rm -f "$tmp"/*.log

# Publish atomically: a directory only becomes images/<key> when complete.
[ -e "$out" ] && mv -T "$out" "$images/.tmp.old.$key.$$"
mv -T "$tmp" "$out"
rm -rf --one-file-system "$images/.tmp.old.$key.$$" 2>/dev/null || true
trap - EXIT
publish_current

# Drop images of older inputs unless a running QEMU still uses one.
for old in "$images"/*; do
  [ -d "$old" ] && [ "$old" != "$out" ] || continue
  if grep -qsF "$old/" /proc/[0-9]*/cmdline; then
    log "keeping $old (a running guest uses it)"
  else
    rm -rf --one-file-system "$old"
  fi
done
log "done in $(( $(date +%s) - start_ts )) s: $out ($(du -h "$out/base.qcow2" | cut -f1) qcow2)"
printf '%s\n' "$out"
