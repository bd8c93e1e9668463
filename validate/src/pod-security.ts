/**
 * The Pod Security Standards "restricted" profile (which includes "baseline"), checked on a pod
 * spec as the PodSecurity admission controller would at `enforce: restricted`, latest version.
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */

import { RESTRICTED_VOLUME_TYPES } from '@agent-fleet/contract';
import type { SchemaProblem } from './kubernetes-schema';
import type { Json } from './manifest';

const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set([
  undefined,
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
]);

/**
 * Violations of "restricted" in one pod spec, each with its field (a dotted path starting at `where`);
 * empty when it would be admitted.
 */
export function restrictedViolations(spec: Json, where = 'spec'): SchemaProblem[] {
  const v: SchemaProblem[] = [];
  const add = (field: string, message: string) => v.push({ field, message });
  const pod = spec.securityContext ?? {};
  const containers: Array<{ at: string; c: Json }> = [
    'initContainers',
    'containers',
    'ephemeralContainers',
  ].flatMap((list) =>
    (Array.isArray(spec[list]) ? spec[list] : []).map((c: Json, i: number) => ({
      at: `${where}.${list}[${i}]`,
      c,
    })),
  );

  // baseline
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'])
    if (spec[field]) add(`${where}.${field}`, 'must be unset or false');
  if (pod.windowsOptions?.hostProcess)
    add(`${where}.securityContext.windowsOptions.hostProcess`, 'is forbidden');
  if (!SELINUX_TYPES.has(pod.seLinuxOptions?.type) || pod.seLinuxOptions?.user || pod.seLinuxOptions?.role) {
    add(`${where}.securityContext.seLinuxOptions`, 'is not allowed');
  }
  for (const s of pod.sysctls ?? [])
    if (!SAFE_SYSCTLS.has(s.name)) add(`${where}.securityContext.sysctls`, `${s.name} is not a safe sysctl`);
  if (pod.appArmorProfile && !['RuntimeDefault', 'Localhost'].includes(pod.appArmorProfile.type)) {
    add(`${where}.securityContext.appArmorProfile`, 'must be RuntimeDefault or Localhost');
  }

  // restricted: volumes
  for (const [i, volume] of (spec.volumes ?? []).entries()) {
    const types = Object.keys(volume).filter((k) => k !== 'name');
    for (const t of types)
      if (!RESTRICTED_VOLUME_TYPES.has(t)) add(`${where}.volumes[${i}].${t}`, `${t} volumes are not allowed`);
  }

  // restricted: pod-level seccomp / runAsNonRoot may be satisfied per container
  const podSeccompOk = ['RuntimeDefault', 'Localhost'].includes(pod.seccompProfile?.type);
  if (pod.seccompProfile && !podSeccompOk)
    add(`${where}.securityContext.seccompProfile`, 'must be RuntimeDefault or Localhost');
  if (pod.runAsUser === 0) add(`${where}.securityContext.runAsUser`, 'must not be 0');

  for (const { at, c } of containers) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) add(`${at}.securityContext.privileged`, 'must be false');
    if (sc.windowsOptions?.hostProcess)
      add(`${at}.securityContext.windowsOptions.hostProcess`, 'is forbidden');
    if (sc.procMount && sc.procMount !== 'Default') add(`${at}.securityContext.procMount`, 'must be Default');
    if (!SELINUX_TYPES.has(sc.seLinuxOptions?.type) || sc.seLinuxOptions?.user || sc.seLinuxOptions?.role) {
      add(`${at}.securityContext.seLinuxOptions`, 'is not allowed');
    }
    if (sc.appArmorProfile && !['RuntimeDefault', 'Localhost'].includes(sc.appArmorProfile.type)) {
      add(`${at}.securityContext.appArmorProfile`, 'must be RuntimeDefault or Localhost');
    }
    for (const [i, p] of (c.ports ?? []).entries())
      if (p.hostPort) add(`${at}.ports[${i}].hostPort`, `${p.hostPort} is not allowed`);
    if (sc.allowPrivilegeEscalation !== false)
      add(`${at}.securityContext.allowPrivilegeEscalation`, 'must be false');
    const runAsNonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
    if (runAsNonRoot !== true) add(`${at}.securityContext.runAsNonRoot`, 'must be true (container or pod)');
    if (sc.runAsUser === 0) add(`${at}.securityContext.runAsUser`, 'must not be 0');
    const seccomp = sc.seccompProfile?.type;
    if (seccomp !== undefined ? !['RuntimeDefault', 'Localhost'].includes(seccomp) : !podSeccompOk) {
      add(`${at}.securityContext.seccompProfile`, 'must be RuntimeDefault or Localhost (container or pod)');
    }
    const drop: string[] = sc.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) add(`${at}.securityContext.capabilities.drop`, 'must include ALL');
    for (const cap of sc.capabilities?.add ?? []) {
      if (cap !== 'NET_BIND_SERVICE')
        add(`${at}.securityContext.capabilities.add`, `may only hold NET_BIND_SERVICE, not ${cap}`);
    }
  }
  return v;
}
