/**
 * What an agent pod holds besides the contract: user env (strings and cdk8s-plus EnvValues), envFrom
 * sources, extra volumes and their mounts, the image pull secret, init containers and native
 * sidecars, and the arithmetic of what the whole pod requests. Validated at synth time with errors
 * that name the prop; rendered for {@link AgentPod}.
 */
import { posix } from 'node:path';
import { DEFAULT_TASK_DIR, Defaults, Http, RESTRICTED_VOLUME_TYPES } from '@agent-fleet/contract';
import { EnvFrom, EnvValue, k8s, Protocol, Volume } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import {
  type AgentInitContainer,
  type AgentPodSpecProps,
  type AgentResources,
  type AgentSidecar,
  type AgentVolume,
  DEFAULT_EXTRA_CONTAINER_RESOURCES,
  type ResourceAmounts,
  SidecarStartupProbe,
} from '../agent-pod-props';
import { Quantity } from '../quantity';
import { ContainerRole, type PodContainerResources, type PodResources } from '../workload';
import { AGENT_CONTAINER } from './job-policy';
import {
  invalid,
  requireDnsLabel,
  requireDnsSubdomain,
  requireInt,
  requireNoCredential,
  requireQuantity,
  requireSeconds,
} from './validation';

/** The pod's writable scratch volume, mounted at `/tmp` in every container. */
export const TMP_VOLUME = 'tmp';
const TMP_PATH = '/tmp';
/** The volume mounted at the contract's checkpoint path in the agent container. */
export const CHECKPOINT_VOLUME = 'checkpoints';
/** The read-only volume holding a static batch's shard files, mounted at the contract's task directory. */
export const TASKS_VOLUME = 'tasks';

/** Resource fields of {@link ResourceAmounts} and their Kubernetes names. */
export const RESOURCE_NAMES = [
  ['cpu', 'cpu'],
  ['memory', 'memory'],
  ['ephemeralStorage', 'ephemeral-storage'],
] as const;

export type ResourceField = (typeof RESOURCE_NAMES)[number][0];

/** Amounts as Kubernetes writes them (`ephemeral-storage`, …), or undefined when none is set. */
export function renderAmounts(
  amounts: ResourceAmounts | undefined,
): Record<string, k8s.Quantity> | undefined {
  const entries = RESOURCE_NAMES.flatMap(([field, key]) => {
    const q = amounts?.[field];
    return q === undefined ? [] : [[key, k8s.Quantity.fromString(q.value)] as const];
  });
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

/** Checks every quantity of `resources` (named `prop`) and that no limit is below its request. */
export function validateResources(scope: Construct, prop: string, resources: AgentResources): void {
  for (const [field] of RESOURCE_NAMES) {
    const request = resources.requests?.[field];
    const limit = resources.limits?.[field];
    const requested = request && requireQuantity(scope, `${prop}.requests.${field}`, request);
    const limited = limit && requireQuantity(scope, `${prop}.limits.${field}`, limit);
    if (requested !== undefined && limited !== undefined && limited < requested) {
      invalid(
        scope,
        `${prop}.limits.${field}`,
        limit!.value,
        `is below the request (${request!.value})`,
        `raise the limit to at least ${request!.value} or lower the request`,
      );
    }
  }
}

export function renderResources(resources: AgentResources): k8s.ResourceRequirements {
  return { requests: renderAmounts(resources.requests), limits: renderAmounts(resources.limits) };
}

/**
 * The pod-level security context of every pod the constructs write: non-root as `uid` (also the
 * group and the fsGroup that owns the volumes), seccomp RuntimeDefault.
 */
export function restrictedPodSecurityContext(uid: number): k8s.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Pod Security "restricted" for one container; every container of an agent pod gets exactly this. */
export function restrictedSecurityContext(): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** An image reference with a tag other than `latest`, or a digest; no credential in it. */
export function validateImage(scope: Construct, prop: string, image: string): void {
  const fix = 'pin a version, e.g. "registry.example.com/agent:1.4.2" or "…/agent@sha256:<digest>"';
  if (typeof image !== 'string' || image.trim() !== image || image.length === 0 || /\s/.test(image)) {
    invalid(scope, prop, image, 'is not an image reference', fix);
  }
  requireNoCredential(
    scope,
    prop,
    image,
    'give the registry credentials through dockerRegistryAuth (an image pull Secret) instead',
  );
  if (image.includes('@')) {
    if (!/@sha256:[a-f0-9]{64}$/.test(image)) invalid(scope, prop, image, 'has a malformed digest', fix);
    return;
  }
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) invalid(scope, prop, image, 'has no tag, so every pull may run different code', fix);
  const tag = lastSegment.slice(colon + 1);
  if (tag === 'latest') invalid(scope, prop, image, 'uses the moving tag "latest"', fix);
  if (!/^[\w][\w.-]{0,127}$/.test(tag)) invalid(scope, prop, image, 'has an invalid tag', fix);
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const ENV_CREDENTIAL_FIX =
  'store the value in a Secret and reference it with a secretKeyRef, EnvValue.fromSecretValue({ secret, key }) (see QueueConnection.fromSecret for the queue URL)';

/**
 * Checks `env` (named `prop`): variable names, no credential in a literal value (a string or
 * `EnvValue.fromValue`), and none of the `reserved` names.
 */
function validateEnv(
  scope: Construct,
  prop: string,
  env: Record<string, string | EnvValue>,
  reserved: ReadonlySet<string>,
): void {
  for (const [name, value] of Object.entries(env)) {
    const at = `${prop}.${name}`;
    if (!ENV_NAME.test(name)) {
      invalid(scope, at, name, 'is not a valid variable name', 'use letters, digits, "_", "-" and "."');
    }
    if (typeof value !== 'string' && !(value instanceof EnvValue)) {
      invalid(
        scope,
        at,
        value,
        'is neither a string nor a cdk8s-plus EnvValue',
        'write a string, or use EnvValue.fromSecretValue, fromConfigMap, fromFieldRef, fromResource or fromValue',
      );
    }
    const literal: unknown = typeof value === 'string' ? value : value.value;
    if (reserved.has(name)) {
      invalid(
        scope,
        at,
        typeof value === 'string' ? value : (value.value ?? value.valueFrom),
        'is set by the construct from its props (runtime contract)',
        'use the matching prop (queue, queueName, terminationGracePeriod, …) instead',
      );
    }
    if (typeof literal === 'string') requireNoCredential(scope, at, literal, ENV_CREDENTIAL_FIX);
  }
}

function renderEnv(env: Record<string, string | EnvValue> | undefined): k8s.EnvVar[] {
  return Object.entries(env ?? {}).map(([name, value]) =>
    typeof value === 'string' ? { name, value } : { name, value: value.value, valueFrom: value.valueFrom },
  );
}

/** Checks and renders `envFrom` (named `prop`): cdk8s-plus sources with valid names and prefixes. */
function renderEnvFrom(scope: Construct, prop: string, envFrom: EnvFrom[] | undefined): k8s.EnvFromSource[] {
  return (envFrom ?? []).map((source, i) => {
    if (!(source instanceof EnvFrom)) {
      invalid(
        scope,
        `${prop}[${i}]`,
        source,
        'is not a cdk8s-plus EnvFrom',
        'use Env.fromSecret(secret) or Env.fromConfigMap(configMap, prefix?)',
      );
    }
    const kube = source._toKube();
    const name = kube.secretRef?.name ?? kube.configMapRef?.name;
    requireDnsSubdomain(scope, `${prop}[${i}]`, name ?? '');
    if (kube.prefix !== undefined && !ENV_NAME.test(kube.prefix)) {
      invalid(
        scope,
        `${prop}[${i}].prefix`,
        kube.prefix,
        'is not a valid variable-name prefix',
        'use letters, digits, "_", "-" and ".", not starting with a digit, e.g. "LLM_"',
      );
    }
    return kube;
  });
}

/** Paths every container of the pod keeps for the construct, with what they hold. */
const RESERVED_PATHS: ReadonlyArray<readonly [string, string]> = [
  [TMP_PATH, "the pod's writable /tmp"],
  [Defaults.checkpointDir, "the agent's checkpoint path"],
  [DEFAULT_TASK_DIR, "the agent's task file directory"],
];

/** True when `inner` lies strictly below `outer`. */
function isBelow(inner: string, outer: string): boolean {
  return outer === '/' ? inner !== '/' : inner.startsWith(`${outer}/`);
}

/** How `path` collides with `other`: the same path, below it, above it, or not at all. */
function collision(path: string, other: string): string | undefined {
  if (path === other) return 'is';
  if (isBelow(path, other)) return 'is below';
  if (isBelow(other, path)) return 'is above';
  return undefined;
}

/**
 * The pod's extra volumes from `volumes`, each once (a Volume listed twice is one pod volume with
 * two mounts), after checking names, types and emptyDir size limits.
 */
function renderPodVolumes(scope: Construct, mounts: readonly AgentVolume[]): Map<Volume, k8s.Volume> {
  const volumes = new Map<Volume, k8s.Volume>();
  const names = new Map<string, number>();
  mounts.forEach((mount, i) => {
    const prop = `volumes[${i}].volume`;
    if (!(mount?.volume instanceof Volume)) {
      invalid(
        scope,
        prop,
        mount?.volume,
        'is not a cdk8s-plus Volume',
        'use Volume.fromSecret, fromConfigMap, fromEmptyDir (with a sizeLimit), fromCsi or fromPersistentVolumeClaim',
      );
    }
    if (volumes.has(mount.volume)) return;
    const kube = mount.volume._toKube();
    const name = requireDnsLabel(scope, `${prop}.name`, kube.name);
    if (name === TMP_VOLUME || name === CHECKPOINT_VOLUME || name === TASKS_VOLUME) {
      invalid(
        scope,
        `${prop}.name`,
        name,
        `is the name of the pod's own ${name === TMP_VOLUME ? '/tmp' : name === TASKS_VOLUME ? 'task file' : 'checkpoint'} volume`,
        'give the volume another name',
      );
    }
    const first = names.get(name);
    if (first !== undefined) {
      invalid(
        scope,
        `${prop}.name`,
        name,
        `is also the name of volumes[${first}].volume, a different volume`,
        'give each volume its own name (to mount one volume twice, list the same Volume object twice)',
      );
    }
    names.set(name, i);
    for (const [type, source] of Object.entries(kube)) {
      if (type === 'name' || source === undefined) continue;
      if (!RESTRICTED_VOLUME_TYPES.has(type)) {
        invalid(
          scope,
          `${prop}.${type}`,
          name,
          `is a ${type} volume, which Pod Security "restricted" does not admit`,
          'use a secret, configMap, emptyDir, projected, downwardAPI, csi, ephemeral or persistentVolumeClaim volume',
        );
      }
    }
    if (kube.emptyDir !== undefined && kube.emptyDir.sizeLimit === undefined) {
      invalid(
        scope,
        `${prop}.emptyDir.sizeLimit`,
        name,
        "is not set: an emptyDir without a limit can fill its node's disk (or memory), which every pod there shares",
        'give one, e.g. Volume.fromEmptyDir(scope, id, name, { sizeLimit: Size.mebibytes(512) })',
      );
    }
    volumes.set(mount.volume, kube);
  });
  return volumes;
}

/**
 * Checks and renders the mounts of one container (`prop`, e.g. `sidecars[0].volumes`): paths
 * absolute, normalized, apart from the reserved paths and from each other; each volume one of
 * `podVolumes`.
 */
function renderMounts(
  scope: Construct,
  prop: string,
  mounts: readonly AgentVolume[],
  podVolumes: ReadonlyMap<Volume, k8s.Volume>,
): k8s.VolumeMount[] {
  return mounts.map((mount, i) => {
    const at = `${prop}[${i}]`;
    const volume = podVolumes.get(mount?.volume);
    if (volume === undefined) {
      invalid(
        scope,
        `${at}.volume`,
        mount?.volume instanceof Volume ? mount.volume.name : mount?.volume,
        "is not one of the pod's volumes",
        "add it to the workload's volumes, then mount it here by the same Volume object",
      );
    }
    const path = mount.mountPath;
    if (typeof path !== 'string') {
      invalid(scope, `${at}.mountPath`, path, 'is not a path', 'give an absolute path, e.g. "/etc/agent"');
    }
    requireNoCredential(scope, `${at}.mountPath`, path, 'a mount path is a path, not a URL');
    if (!path.startsWith('/') || posix.normalize(path) !== path || (path.endsWith('/') && path !== '/')) {
      invalid(
        scope,
        `${at}.mountPath`,
        path,
        'is not an absolute, normalized path',
        'start with "/" and use no ".", "..", "//" or trailing "/", e.g. "/etc/agent"',
      );
    }
    for (const [reserved, what] of RESERVED_PATHS) {
      const how = collision(path, reserved);
      if (how) {
        invalid(
          scope,
          `${at}.mountPath`,
          path,
          `${how} ${what} (${reserved})`,
          `mount it beside, not on, above or below ${reserved}, e.g. "/etc/agent"`,
        );
      }
    }
    mounts.slice(0, i).forEach((earlier, j) => {
      const how = collision(path, earlier.mountPath);
      if (how) {
        invalid(
          scope,
          `${at}.mountPath`,
          path,
          `${how} ${prop}[${j}].mountPath (${earlier.mountPath}) of the same container`,
          'give each mount its own directory, none inside another',
        );
      }
    });
    const subPath = mount.subPath;
    if (subPath !== undefined) {
      if (typeof subPath === 'string') {
        requireNoCredential(scope, `${at}.subPath`, subPath, 'a subPath is a path inside the volume');
      }
      if (
        typeof subPath !== 'string' ||
        subPath === '' ||
        subPath.startsWith('/') ||
        subPath.split('/').includes('..')
      ) {
        invalid(
          scope,
          `${at}.subPath`,
          subPath,
          'is not a relative path inside the volume',
          'give a path relative to the volume root without "..", e.g. "config.yaml", or omit subPath',
        );
      }
    }
    return {
      name: volume.name,
      mountPath: path,
      ...((mount.readOnly ?? true) && { readOnly: true }),
      ...(subPath !== undefined && { subPath }),
    };
  });
}

/** A port name Kubernetes accepts (IANA_SVC_NAME): ≤ 15 lowercase letters, digits, single "-". */
const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;

function requirePortNumber(scope: Construct, prop: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    invalid(scope, prop, port, 'is not a port number', 'use an integer 1–65535');
  }
  return port;
}

/** Ports a sidecar listens on, unique in the pod (its containers share one network namespace). */
class PodPorts {
  private readonly names = new Map<string, string>([[Http.portName, 'the agent']]);
  private readonly numbers = new Map<string, string>([[`${Defaults.metricsPort}/TCP`, 'the agent']]);

  render(scope: Construct, prop: string, sidecar: string, ports: AgentSidecar['ports']): k8s.ContainerPort[] {
    return (ports ?? []).map((port, i) => {
      const at = `${prop}[${i}]`;
      const number = requirePortNumber(scope, `${at}.number`, port?.number);
      if (port.hostPort !== undefined || port.hostIp !== undefined) {
        invalid(
          scope,
          `${at}.${port.hostPort !== undefined ? 'hostPort' : 'hostIp'}`,
          port.hostPort ?? port.hostIp,
          'binds a port of the node, which Pod Security "restricted" forbids',
          'drop hostPort and hostIp: other pods reach the sidecar through the pod IP or a Service',
        );
      }
      const name = port.name;
      if (typeof name !== 'string' || !PORT_NAME.test(name)) {
        invalid(
          scope,
          `${at}.name`,
          name,
          'is not a port name',
          'name the port: at most 15 lowercase letters, digits and single "-", with at least one letter, e.g. "proxy"',
        );
      }
      const protocol = port.protocol ?? Protocol.TCP;
      if (!Object.values(Protocol).includes(protocol)) {
        invalid(scope, `${at}.protocol`, protocol, 'is not a protocol', 'use Protocol.TCP, UDP or SCTP');
      }
      const owner = this.names.get(name);
      if (owner !== undefined) {
        invalid(
          scope,
          `${at}.name`,
          name,
          `is the name of a port of ${owner} too`,
          'give each port of the pod its own name',
        );
      }
      const key = `${number}/${protocol}`;
      const taken = this.numbers.get(key);
      if (taken !== undefined) {
        invalid(
          scope,
          `${at}.number`,
          number,
          `is a ${protocol} port of ${taken} too (the pod's containers share one network namespace)`,
          `use another port${taken === 'the agent' ? `: ${Defaults.metricsPort} is the agent's metrics port` : ''}`,
        );
      }
      this.names.set(name, `sidecar "${sidecar}"`);
      this.numbers.set(key, `sidecar "${sidecar}"`);
      return { name, containerPort: number, protocol };
    });
  }
}

const DEFAULT_PROBE_PERIOD_SECONDS = 1;
const DEFAULT_PROBE_FAILURE_THRESHOLD = 30;

function renderStartupProbe(scope: Construct, prop: string, probe: SidecarStartupProbe): k8s.Probe {
  if (!(probe instanceof SidecarStartupProbe)) {
    invalid(
      scope,
      prop,
      probe,
      'is not a SidecarStartupProbe',
      'use SidecarStartupProbe.httpGet(path, port) or SidecarStartupProbe.tcpSocket(port)',
    );
  }
  const port = k8s.IntOrString.fromNumber(requirePortNumber(scope, `${prop}.port`, probe.port));
  if (probe.path !== undefined) {
    requireNoCredential(
      scope,
      `${prop}.path`,
      probe.path,
      'probe a path without credentials, e.g. "/healthz"',
    );
    if (!probe.path.startsWith('/') || /\s/.test(probe.path)) {
      invalid(scope, `${prop}.path`, probe.path, 'is not an absolute URL path', 'use e.g. "/healthz"');
    }
  }
  const { period, failureThreshold } = probe.options;
  return {
    ...(probe.path === undefined ? { tcpSocket: { port } } : { httpGet: { path: probe.path, port } }),
    periodSeconds: period ? requireSeconds(scope, `${prop}.period`, period, 1) : DEFAULT_PROBE_PERIOD_SECONDS,
    failureThreshold: requireInt(
      scope,
      `${prop}.failureThreshold`,
      failureThreshold ?? DEFAULT_PROBE_FAILURE_THRESHOLD,
      1,
    ),
  };
}

function requireStrings(scope: Construct, prop: string, values: string[] | undefined): string[] | undefined {
  values?.forEach((value, i) => {
    if (typeof value !== 'string')
      invalid(scope, `${prop}[${i}]`, value, 'is not a string', 'give strings only');
    requireNoCredential(
      scope,
      `${prop}[${i}]`,
      value,
      'read the credential from an env var set with EnvValue.fromSecretValue, or from a Secret volume',
    );
  });
  return values && [...values];
}

/**
 * The user-given parts of an agent pod, validated: the agent's extra env, envFrom and mounts, the
 * pod's extra volumes and image pull secret, init containers and sidecars, and what the pod requests.
 */
export class PodFeatures {
  /** The agent container's env from the `env` prop (the contract's own variables come first). */
  readonly agentEnv: k8s.EnvVar[];
  readonly agentEnvFrom?: k8s.EnvFromSource[];
  /** The agent container's mounts of `volumes` (after `/tmp` and the checkpoint path). */
  readonly agentMounts: k8s.VolumeMount[];
  /** The pod's volumes from `volumes` (after `/tmp` and the checkpoint volume). */
  readonly volumes: k8s.Volume[];
  /** Init containers, then sidecars; undefined when there are none. */
  readonly initContainers?: k8s.Container[];
  readonly imagePullSecrets?: k8s.LocalObjectReference[];
  readonly podResources: PodResources;

  /**
   * @param agentResources the agent container's resources, already validated
   * @param contractEnv variables the construct sets on the agent, which its `env` may not set
   */
  constructor(
    scope: Construct,
    props: AgentPodSpecProps,
    agentResources: AgentResources,
    contractEnv: ReadonlySet<string>,
  ) {
    validateEnv(scope, 'env', props.env ?? {}, contractEnv);
    this.agentEnv = renderEnv(props.env);
    this.agentEnvFrom = nonEmpty(renderEnvFrom(scope, 'envFrom', props.envFrom));
    const podVolumes = renderPodVolumes(scope, props.volumes ?? []);
    this.agentMounts = renderMounts(scope, 'volumes', props.volumes ?? [], podVolumes);
    this.volumes = [...podVolumes.values()];
    if (props.dockerRegistryAuth !== undefined) {
      const name = requireDnsSubdomain(scope, 'dockerRegistryAuth', props.dockerRegistryAuth.name);
      this.imagePullSecrets = [{ name }];
    }

    const extras = [
      ...(props.initContainers ?? []).map((c, i) => ({
        c,
        prop: `initContainers[${i}]`,
        role: ContainerRole.INIT,
      })),
      ...(props.sidecars ?? []).map((c, i) => ({ c, prop: `sidecars[${i}]`, role: ContainerRole.SIDECAR })),
    ];
    const names = new Map<string, string>([[AGENT_CONTAINER, 'the agent container']]);
    const ports = new PodPorts();
    const containers: PodContainerResources[] = [];
    this.initContainers = nonEmpty(
      extras.map(({ c, prop, role }) => {
        const container = this.extraContainer(scope, prop, c, role, podVolumes, ports, names);
        containers.push({
          name: container.name,
          role,
          resources: c.resources ?? DEFAULT_EXTRA_CONTAINER_RESOURCES,
        });
        return container;
      }),
    );
    containers.push({ name: AGENT_CONTAINER, role: ContainerRole.AGENT, resources: agentResources });
    this.podResources = podResourcesOf(containers);
  }

  private extraContainer(
    scope: Construct,
    prop: string,
    c: AgentInitContainer | AgentSidecar,
    role: ContainerRole,
    podVolumes: ReadonlyMap<Volume, k8s.Volume>,
    ports: PodPorts,
    names: Map<string, string>,
  ): k8s.Container {
    const name = requireDnsLabel(scope, `${prop}.name`, c?.name);
    const owner = names.get(name);
    if (owner !== undefined) {
      invalid(
        scope,
        `${prop}.name`,
        name,
        `is the name of ${owner} too`,
        'give each container of the pod its own name',
      );
    }
    names.set(name, prop);
    validateImage(scope, `${prop}.image`, c.image);
    validateEnv(scope, `${prop}.env`, c.env ?? {}, new Set());
    const resources = c.resources ?? DEFAULT_EXTRA_CONTAINER_RESOURCES;
    validateResources(scope, `${prop}.resources`, resources);
    const sidecar = role === ContainerRole.SIDECAR ? (c as AgentSidecar) : undefined;
    if (sidecar === undefined) {
      for (const field of ['ports', 'startupProbe'] as const) {
        if ((c as AgentSidecar)[field] !== undefined) {
          invalid(
            scope,
            `${prop}.${field}`,
            name,
            'is set on an init container, which runs to completion before the agent starts',
            `move the container to sidecars, or drop ${field}`,
          );
        }
      }
    }
    return {
      name,
      image: c.image,
      imagePullPolicy: 'IfNotPresent',
      command: requireStrings(scope, `${prop}.command`, c.command),
      args: requireStrings(scope, `${prop}.args`, c.args),
      env: nonEmpty(renderEnv(c.env)),
      envFrom: nonEmpty(renderEnvFrom(scope, `${prop}.envFrom`, c.envFrom)),
      ports: nonEmpty(ports.render(scope, `${prop}.ports`, name, sidecar?.ports)),
      resources: renderResources(resources),
      restartPolicy: sidecar ? 'Always' : undefined,
      securityContext: restrictedSecurityContext(),
      startupProbe:
        sidecar?.startupProbe && renderStartupProbe(scope, `${prop}.startupProbe`, sidecar.startupProbe),
      volumeMounts: [
        { name: TMP_VOLUME, mountPath: TMP_PATH },
        ...renderMounts(scope, `${prop}.volumes`, c.volumes ?? [], podVolumes),
      ],
    };
  }
}

function nonEmpty<T>(items: T[]): T[] | undefined {
  return items.length > 0 ? items : undefined;
}

/**
 * Whole units of a resource: millicores for CPU, bytes for memory and ephemeral storage, rounded
 * up so that a sum never falls short.
 */
export type Units = Partial<Record<ResourceField, number>>;

/** `amount` (cores or bytes, as {@link Quantity.toNumber} gives it) in whole units. */
export function unitsOf(field: ResourceField, amount: number): number {
  return Math.ceil(field === 'cpu' ? amount * 1000 - 1e-9 : amount - 1e-9);
}

/** Units as the shortest exact Kubernetes quantity: `"2"`, `"550m"`, `"1088Mi"`. */
export function formatUnits(field: ResourceField, units: number): string {
  if (field === 'cpu') return units % 1000 === 0 ? String(units / 1000) : `${units}m`;
  for (const [suffix, size] of [
    ['Ti', 2 ** 40],
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const) {
    if (units % size === 0) return `${units / size}${suffix}`;
  }
  return String(units);
}

/** The amounts of `amounts` in units; quantities must have been validated. */
export function unitsOfAmounts(amounts: ResourceAmounts | undefined): Units {
  const out: Units = {};
  for (const [field] of RESOURCE_NAMES) {
    const amount = amounts?.[field]?.toNumber();
    if (amount !== undefined) out[field] = unitsOf(field, amount);
  }
  return out;
}

const sum = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : a + b;
const larger = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b);

/**
 * The pod-level amount of one resource as Kubernetes computes it (PodRequests / PodLimits in
 * k8s.io/component-helpers, also used by the LimitRanger and ResourceQuota admission): the larger
 * of the steady state (the agent plus every sidecar) and, for each init container, that container
 * plus the sidecars started before it. A container without an amount adds nothing; the result is
 * undefined only when no container has one.
 * @param containers in the order of {@link PodResources.containers}
 */
export function podAmount(
  containers: ReadonlyArray<{ readonly role: ContainerRole; readonly amount: number | undefined }>,
): number | undefined {
  let steady: number | undefined;
  let sidecarsSoFar: number | undefined;
  let initPeak: number | undefined;
  for (const { role, amount } of containers) {
    if (role === ContainerRole.AGENT) {
      steady = sum(steady, amount);
    } else if (role === ContainerRole.SIDECAR) {
      steady = sum(steady, amount);
      sidecarsSoFar = sum(sidecarsSoFar, amount);
      initPeak = larger(initPeak, sidecarsSoFar);
    } else {
      initPeak = larger(initPeak, sum(amount, sidecarsSoFar));
    }
  }
  return larger(steady, initPeak);
}

/** A container's requests as the API server completes them: a missing request takes the limit. */
export function requestUnits(resources: AgentResources): Units {
  return { ...unitsOfAmounts(resources.limits), ...unitsOfAmounts(resources.requests) };
}

/** {@link PodResources} of `containers` (in pod order) with their effective amounts. */
function podResourcesOf(containers: readonly PodContainerResources[]): PodResources {
  const requests = containers.map((c) => ({ role: c.role, units: requestUnits(c.resources) }));
  const limits = containers.map((c) => ({ role: c.role, units: unitsOfAmounts(c.resources.limits) }));
  const effective = (parts: typeof requests, everyContainer: boolean): ResourceAmounts => {
    const out: Partial<Record<ResourceField, Quantity>> = {};
    for (const [field] of RESOURCE_NAMES) {
      if (everyContainer && parts.some((p) => p.units[field] === undefined)) continue;
      const amount = podAmount(parts.map((p) => ({ role: p.role, amount: p.units[field] })));
      if (amount !== undefined) out[field] = Quantity.of(formatUnits(field, amount));
    }
    return out;
  };
  return {
    containers,
    effective: { requests: effective(requests, false), limits: effective(limits, true) },
  };
}
