/**
 * The Pod Security Standards "restricted" profile (which includes "baseline"), checked on a pod
 * spec as the PodSecurity admission controller would at `enforce: restricted`, latest version.
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */

// biome-ignore lint/suspicious/noExplicitAny: walks untyped synthesized JSON
type Json = any;

const RESTRICTED_VOLUME_TYPES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
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

/** Violations of "restricted" in one pod spec; empty when it would be admitted. */
export function restrictedViolations(spec: Json, where = 'spec'): string[] {
  const v: string[] = [];
  const pod = spec.securityContext ?? {};
  const containers: Json[] = [
    ...(spec.initContainers ?? []),
    ...(spec.containers ?? []),
    ...(spec.ephemeralContainers ?? []),
  ];

  // baseline
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'])
    if (spec[field]) v.push(`${where}.${field} must be unset or false`);
  if (pod.windowsOptions?.hostProcess)
    v.push(`${where}.securityContext.windowsOptions.hostProcess is forbidden`);
  if (!SELINUX_TYPES.has(pod.seLinuxOptions?.type) || pod.seLinuxOptions?.user || pod.seLinuxOptions?.role) {
    v.push(`${where}.securityContext.seLinuxOptions is not allowed`);
  }
  for (const s of pod.sysctls ?? [])
    if (!SAFE_SYSCTLS.has(s.name)) v.push(`${where}: sysctl ${s.name} is not safe`);
  if (pod.appArmorProfile && !['RuntimeDefault', 'Localhost'].includes(pod.appArmorProfile.type)) {
    v.push(`${where}.securityContext.appArmorProfile must be RuntimeDefault or Localhost`);
  }

  // restricted: volumes
  for (const volume of spec.volumes ?? []) {
    const types = Object.keys(volume).filter((k) => k !== 'name');
    for (const t of types)
      if (!RESTRICTED_VOLUME_TYPES.has(t))
        v.push(`${where}.volumes[${volume.name}]: ${t} volumes are not allowed`);
  }

  // restricted: pod-level seccomp / runAsNonRoot may be satisfied per container
  const podSeccompOk = ['RuntimeDefault', 'Localhost'].includes(pod.seccompProfile?.type);
  if (pod.seccompProfile && !podSeccompOk)
    v.push(`${where}.securityContext.seccompProfile must be RuntimeDefault or Localhost`);
  if (pod.runAsUser === 0) v.push(`${where}.securityContext.runAsUser must not be 0`);

  for (const c of containers) {
    const at = `${where}.containers[${c.name}]`;
    const sc = c.securityContext ?? {};
    if (sc.privileged) v.push(`${at}.securityContext.privileged must be false`);
    if (sc.windowsOptions?.hostProcess)
      v.push(`${at}.securityContext.windowsOptions.hostProcess is forbidden`);
    if (sc.procMount && sc.procMount !== 'Default') v.push(`${at}.securityContext.procMount must be Default`);
    if (!SELINUX_TYPES.has(sc.seLinuxOptions?.type) || sc.seLinuxOptions?.user || sc.seLinuxOptions?.role) {
      v.push(`${at}.securityContext.seLinuxOptions is not allowed`);
    }
    if (sc.appArmorProfile && !['RuntimeDefault', 'Localhost'].includes(sc.appArmorProfile.type)) {
      v.push(`${at}.securityContext.appArmorProfile must be RuntimeDefault or Localhost`);
    }
    for (const p of c.ports ?? []) if (p.hostPort) v.push(`${at}: hostPort ${p.hostPort} is not allowed`);
    if (sc.allowPrivilegeEscalation !== false)
      v.push(`${at}.securityContext.allowPrivilegeEscalation must be false`);
    const runAsNonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
    if (runAsNonRoot !== true) v.push(`${at}: runAsNonRoot must be true (container or pod)`);
    if (sc.runAsUser === 0) v.push(`${at}.securityContext.runAsUser must not be 0`);
    const seccomp = sc.seccompProfile?.type;
    if (seccomp !== undefined ? !['RuntimeDefault', 'Localhost'].includes(seccomp) : !podSeccompOk) {
      v.push(`${at}: seccompProfile must be RuntimeDefault or Localhost (container or pod)`);
    }
    const drop: string[] = sc.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) v.push(`${at}.securityContext.capabilities.drop must include ALL`);
    for (const cap of sc.capabilities?.add ?? []) {
      if (cap !== 'NET_BIND_SERVICE')
        v.push(`${at}.securityContext.capabilities.add may only hold NET_BIND_SERVICE, not ${cap}`);
    }
  }
  return v;
}

/** Pod specs inside a synthesized object: a Pod, a workload's template, a ScaledJob's jobTargetRef. */
export function podSpecsOf(obj: Json): Array<{ where: string; spec: Json }> {
  if (obj.kind === 'Pod') return [{ where: 'spec', spec: obj.spec }];
  if (obj.spec?.template?.spec) return [{ where: 'spec.template.spec', spec: obj.spec.template.spec }];
  if (obj.spec?.jobTemplate?.spec?.template?.spec) {
    return [{ where: 'spec.jobTemplate.spec.template.spec', spec: obj.spec.jobTemplate.spec.template.spec }];
  }
  if (obj.spec?.jobTargetRef?.template?.spec) {
    return [{ where: 'spec.jobTargetRef.template.spec', spec: obj.spec.jobTargetRef.template.spec }];
  }
  return [];
}
