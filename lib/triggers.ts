import type { ISecret } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import { invalid, requireDnsSubdomain, requireNoCredential } from './internal/validation';
import { RabbitMqProtocol } from './scaling/keda-scaledjob';

/** A key of a Kubernetes Secret. `QueueConnection` is one too. */
export interface SecretKeyRef {
  readonly secretName: string;
  readonly key: string;
}

/** A key of a Secret, from a cdk8s-plus Secret or by name. */
export function secretKey(secret: ISecret | string, key: string): SecretKeyRef {
  return { secretName: typeof secret === 'string' ? secret : secret.name, key };
}

/** Identity providers KEDA 2.16 can use instead of secrets. */
export enum PodIdentityProvider {
  AWS = 'aws',
  AZURE_WORKLOAD = 'azure-workload',
  GCP = 'gcp',
}

/** Options of {@link TriggerAuth.podIdentity}. */
export interface PodIdentityOptions {
  /**
   * AWS: the role KEDA assumes.
   * @default - the role of KEDA's own service account
   */
  readonly roleArn?: string;
  /**
   * Azure: the managed identity's client id.
   * @default - the identity bound to KEDA
   */
  readonly identityId?: string;
}

/** How KEDA authenticates a trigger: the trigger metadata never holds a credential. */
export class TriggerAuth {
  /**
   * A TriggerAuthentication, synthesized next to the ScaledJob, mapping trigger parameters
   * (e.g. `host`, `password`, `awsAccessKeyID`) to Secret keys.
   */
  static secrets(parameters: Record<string, SecretKeyRef>): TriggerAuth {
    return new TriggerAuth({ kind: 'secrets', parameters });
  }

  /** A TriggerAuthentication using the cloud identity of KEDA or of the workload. */
  static podIdentity(provider: PodIdentityProvider, options: PodIdentityOptions = {}): TriggerAuth {
    return new TriggerAuth({ kind: 'podIdentity', provider, ...options });
  }

  /** An existing ClusterTriggerAuthentication, shared by namespaces (nothing is synthesized). */
  static clusterTriggerAuthentication(name: string): TriggerAuth {
    return new TriggerAuth({ kind: 'ref', refKind: 'ClusterTriggerAuthentication', name });
  }

  /** An existing TriggerAuthentication in the ScaledJob's namespace (nothing is synthesized). */
  static existing(name: string): TriggerAuth {
    return new TriggerAuth({ kind: 'ref', refKind: 'TriggerAuthentication', name });
  }

  private constructor(readonly spec: TriggerAuthSpec) {}
}

/** @internal the rendered forms of {@link TriggerAuth}. */
export type TriggerAuthSpec =
  | { readonly kind: 'secrets'; readonly parameters: Record<string, SecretKeyRef> }
  | ({ readonly kind: 'podIdentity'; readonly provider: PodIdentityProvider } & PodIdentityOptions)
  | {
      readonly kind: 'ref';
      readonly refKind: 'TriggerAuthentication' | 'ClusterTriggerAuthentication';
      readonly name: string;
    };

/** A trigger as the ScaledJob construct consumes it. */
export interface BoundTrigger {
  /** KEDA scaler type, e.g. `rabbitmq`. */
  readonly type: string;
  /**
   * The trigger's `name` in the ScaledJob, for triggers tools must find.
   * @default - unnamed
   */
  readonly name?: string;
  readonly metadata: Record<string, string>;
  /**
   * Tasks a Job takes before exiting (`AGENT_MAX_TASKS`): the trigger's target value, messages (items,
   * lag) per Job, since KEDA created the Job for that much work. Undefined for rate-based targets.
   */
  readonly maxTasks?: number;
  /**
   * Whether the scaler's metric includes work already being processed. When it does not (RabbitMQ
   * over amqp, Redis lists), KEDA's `default` strategy subtracts running Jobs a second time.
   */
  readonly countsInFlight: boolean;
  readonly auth?: TriggerAuth;
}

/** What every trigger factory accepts about credentials. */
export interface TriggerAuthOptions {
  /**
   * How KEDA authenticates to the source.
   * @default - none (for RabbitMQ: the agents' own queue Secret as `host`)
   */
  readonly auth?: TriggerAuth;
}

/** RabbitMQ scaler modes. */
export enum RabbitMqMode {
  /** Target `value` messages in the queue per Job. */
  QUEUE_LENGTH = 'QueueLength',
  /** Target `value` published messages per second per Job (http only). */
  MESSAGE_RATE = 'MessageRate',
}

export interface RabbitMqTriggerOptions extends TriggerAuthOptions {
  /**
   * Queue to watch.
   * @default - the queue the agents consume
   */
  readonly queueName?: string;
  /**
   * What `value` targets.
   * @default RabbitMqMode.QUEUE_LENGTH
   */
  readonly mode?: RabbitMqMode;
  /**
   * KEDA's `value`: messages per Job (QueueLength) or messages/s per Job (MessageRate). With
   * QueueLength it is also the number of tasks each Job takes before exiting: it becomes the agent
   * container's `AGENT_MAX_TASKS`.
   * @default 1
   */
  readonly value?: number;
  /**
   * The scaler is active above this many messages.
   * @default 0
   */
  readonly activationValue?: number;
  /**
   * How KEDA reads the queue. `http` needs the management API URL under the `host` parameter,
   * which is a different URL from the agents' AMQP one: give `auth` explicitly.
   * @default RabbitMqProtocol.AMQP
   */
  readonly protocol?: RabbitMqProtocol;
  /**
   * Virtual host (overrides the one in the host URL).
   * @default - the vhost of the host URL
   */
  readonly vhostName?: string;
  /**
   * Count only ready messages (http only; amqp never counts unacknowledged ones).
   * @default false
   */
  readonly excludeUnacknowledged?: boolean;
}

export interface AwsSqsTriggerOptions extends TriggerAuthOptions {
  /** Full queue URL, e.g. `https://sqs.eu-west-1.amazonaws.com/123456789012/agent-tasks`. */
  readonly queueUrl: string;
  /** Region of the queue. */
  readonly awsRegion: string;
  /**
   * Messages per Job (`queueLength`).
   * @default 1
   */
  readonly queueLength?: number;
  /**
   * Active above this many messages.
   * @default 0
   */
  readonly activationQueueLength?: number;
  /**
   * Count in-flight messages too (KEDA's default).
   * @default true
   */
  readonly scaleOnInFlight?: boolean;
  /**
   * Count delayed messages too.
   * @default false
   */
  readonly scaleOnDelayed?: boolean;
}

export interface RedisListTriggerOptions extends TriggerAuthOptions {
  /** `host:port` of the Redis server (credentials only through `auth`). */
  readonly address: string;
  readonly listName: string;
  /**
   * Items per Job (`listLength`).
   * @default 1
   */
  readonly listLength?: number;
  /**
   * Active above this many items.
   * @default 0
   */
  readonly activationListLength?: number;
  /**
   * Database index.
   * @default 0
   */
  readonly databaseIndex?: number;
  /**
   * TLS to Redis.
   * @default false
   */
  readonly enableTls?: boolean;
}

export interface RedisStreamTriggerOptions extends TriggerAuthOptions {
  /** `host:port` of the Redis server. */
  readonly address: string;
  readonly stream: string;
  readonly consumerGroup: string;
  /**
   * Pending (delivered, unacknowledged) entries per Job.
   * @default 1
   */
  readonly pendingEntriesCount?: number;
  /**
   * Scale on the consumer group's lag (entries not yet delivered; Redis 7+) instead of pending
   * entries. Pending entries only exist once a consumer runs, so only lag can start a fleet from
   * zero Jobs.
   * @default - scale on pending entries
   */
  readonly lagCount?: number;
  /**
   * With `lagCount`: active above this lag.
   * @default 0
   */
  readonly activationLagCount?: number;
  /**
   * Database index.
   * @default 0
   */
  readonly databaseIndex?: number;
  /**
   * TLS to Redis.
   * @default false
   */
  readonly enableTls?: boolean;
}

/** Kafka SASL mechanisms KEDA 2.16 supports. */
export enum KafkaSasl {
  NONE = 'none',
  PLAINTEXT = 'plaintext',
  SCRAM_SHA256 = 'scram_sha256',
  SCRAM_SHA512 = 'scram_sha512',
  OAUTHBEARER = 'oauthbearer',
  GSSAPI = 'gssapi',
}

export interface KafkaTriggerOptions extends TriggerAuthOptions {
  /** Comma-separated `host:port` brokers. */
  readonly bootstrapServers: string;
  readonly consumerGroup: string;
  readonly topic: string;
  /**
   * Lag per Job (`lagThreshold`).
   * @default 1
   */
  readonly lagThreshold?: number;
  /**
   * Active above this lag.
   * @default 0
   */
  readonly activationLagThreshold?: number;
  /**
   * Where a group without a committed offset starts.
   * @default "latest"
   */
  readonly offsetResetPolicy?: 'latest' | 'earliest';
  /**
   * SASL mechanism (credentials go through `auth` with `sasl`, `username`, `password`).
   * @default - none
   */
  readonly sasl?: KafkaSasl;
  /**
   * TLS to the brokers.
   * @default false
   */
  readonly tls?: boolean;
}

/**
 * What KEDA scales on: queue depth, never CPU (agents wait on an LLM; their CPU says nothing about
 * the work waiting). The worker runtime consumes RabbitMQ; the other triggers are for agent images
 * that bring their own consumer and still follow the runtime contract's exit codes.
 */
export abstract class ScaledJobTrigger {
  /** RabbitMQ queue depth (or message rate). */
  static rabbitmq(options: RabbitMqTriggerOptions = {}): ScaledJobTrigger {
    return new RabbitMqTrigger(options);
  }

  /** AWS SQS queue depth. */
  static awsSqs(options: AwsSqsTriggerOptions): ScaledJobTrigger {
    return new SimpleTrigger(
      'awsSqs',
      'aws-sqs-queue',
      options,
      ['queueLength', options.queueLength ?? 1],
      options.scaleOnInFlight ?? true,
      {
        queueURL: options.queueUrl,
        awsRegion: options.awsRegion,
        queueLength: options.queueLength ?? 1,
        activationQueueLength: options.activationQueueLength,
        scaleOnInFlight: options.scaleOnInFlight,
        scaleOnDelayed: options.scaleOnDelayed,
      },
    );
  }

  /** Redis list length. Popped items leave the list, so in-flight work is not counted. */
  static redisList(options: RedisListTriggerOptions): ScaledJobTrigger {
    return new SimpleTrigger('redisList', 'redis', options, ['listLength', options.listLength ?? 1], false, {
      address: options.address,
      listName: options.listName,
      listLength: options.listLength ?? 1,
      activationListLength: options.activationListLength,
      databaseIndex: options.databaseIndex,
      enableTLS: options.enableTls,
    });
  }

  /**
   * Redis stream: pending entries of a consumer group (delivered, not yet acknowledged), or its lag
   * with `lagCount`. Pending entries cannot scale up from zero Jobs; use `lagCount` for that.
   */
  static redisStream(options: RedisStreamTriggerOptions): ScaledJobTrigger {
    const common = {
      address: options.address,
      stream: options.stream,
      consumerGroup: options.consumerGroup,
      databaseIndex: options.databaseIndex,
      enableTLS: options.enableTls,
    };
    if (options.lagCount !== undefined) {
      if (options.pendingEntriesCount !== undefined) {
        throw new Error('ScaledJobTrigger.redisStream: give lagCount or pendingEntriesCount, not both');
      }
      // Lag = entries not yet delivered to the group: in-flight work is excluded.
      return new SimpleTrigger(
        'redisStream',
        'redis-streams',
        options,
        ['lagCount', options.lagCount],
        false,
        {
          ...common,
          lagCount: options.lagCount,
          activationLagCount: options.activationLagCount,
        },
      );
    }
    const pending = options.pendingEntriesCount ?? 1;
    return new SimpleTrigger(
      'redisStream',
      'redis-streams',
      options,
      ['pendingEntriesCount', pending],
      true,
      {
        ...common,
        pendingEntriesCount: pending,
      },
    );
  }

  /** Kafka consumer-group lag (uncommitted in-flight messages still count as lag). */
  static kafka(options: KafkaTriggerOptions): ScaledJobTrigger {
    return new SimpleTrigger('kafka', 'kafka', options, ['lagThreshold', options.lagThreshold ?? 1], true, {
      bootstrapServers: options.bootstrapServers,
      consumerGroup: options.consumerGroup,
      topic: options.topic,
      lagThreshold: options.lagThreshold ?? 1,
      activationLagThreshold: options.activationLagThreshold,
      offsetResetPolicy: options.offsetResetPolicy,
      sasl: options.sasl,
      tls: options.tls === undefined ? undefined : options.tls ? 'enable' : 'disable',
    });
  }

  /** Renders the trigger for a workload consuming `queue.queueName` with `queue`'s Secret. */
  abstract bind(scope: Construct, workload: TriggerWorkload): BoundTrigger;
}

/** What a trigger may take from the workload it scales. */
export interface TriggerWorkload {
  readonly queueName: string;
  readonly queueSecret: SecretKeyRef;
}

type Metadata = Record<string, string | number | boolean | undefined>;

/** Metadata fields holding `host:port` lists, where a credential may appear without a scheme. */
const HOST_LIST_FIELDS = new Set(['address', 'bootstrapServers']);
/** `user:password@host` as one entry of a `host:port` list (no scheme, so not caught as a URL). */
const SCHEMELESS_CREDENTIAL = /(^|,)(\s*[^\s,/?#@:]*:)[^\s,/?#@]+@/g;

function renderMetadata(scope: Construct, prefix: string, metadata: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (value === undefined) continue;
    const text = String(value);
    const fix =
      'keep credentials in a Secret and pass them with auth: TriggerAuth.secrets({ host: secretKey(secret, key) })';
    requireNoCredential(scope, `${prefix}.${key}`, text, fix);
    if (HOST_LIST_FIELDS.has(key) && new RegExp(SCHEMELESS_CREDENTIAL.source).test(text)) {
      invalid(
        scope,
        `${prefix}.${key}`,
        text.replace(SCHEMELESS_CREDENTIAL, '$1$2***@'),
        'carries a credential in plain text',
        fix,
      );
    }
    out[key] = text;
  }
  return out;
}

function requireTarget(
  scope: Construct,
  prop: string,
  value: number | undefined,
  min: number,
  whole = true,
): void {
  if (
    value !== undefined &&
    (!Number.isFinite(value) || value < min || (whole && !Number.isInteger(value)))
  ) {
    const what = whole ? 'a whole number' : 'a number';
    invalid(scope, prop, value, `must be ${what} ≥ ${min}`, `use ${what} of at least ${min}`);
  }
}

function validateAuth(scope: Construct, prefix: string, auth?: TriggerAuth): void {
  const spec = auth?.spec;
  if (!spec) return;
  if (spec.kind === 'ref') requireDnsSubdomain(scope, `${prefix}.auth.name`, spec.name);
  if (spec.kind === 'secrets') {
    if (Object.keys(spec.parameters).length === 0) {
      invalid(
        scope,
        `${prefix}.auth`,
        {},
        'maps no parameter',
        'name at least one parameter, e.g. { host: secretKey(secret, "url") }',
      );
    }
    for (const [parameter, ref] of Object.entries(spec.parameters)) {
      requireDnsSubdomain(scope, `${prefix}.auth.${parameter}.secretName`, ref.secretName);
    }
  }
}

class SimpleTrigger extends ScaledJobTrigger {
  constructor(
    private readonly prop: string,
    private readonly type: string,
    private readonly options: TriggerAuthOptions,
    /** The option that sets the per-Job target, and its value. */
    private readonly target: readonly [string, number],
    private readonly countsInFlight: boolean,
    private readonly metadata: Metadata,
  ) {
    super();
  }

  bind(scope: Construct): BoundTrigger {
    const prefix = `triggers.${this.prop}`;
    const [targetOption, target] = this.target;
    requireTarget(scope, `${prefix}.${targetOption}`, target, 1);
    // Activation thresholds and database indexes are counts: KEDA would reject or misread negatives.
    for (const [key, value] of Object.entries(this.metadata)) {
      if (typeof value === 'number' && /^(activation|databaseIndex)/.test(key)) {
        requireTarget(scope, `${prefix}.${key}`, value, 0, key === 'databaseIndex');
      }
    }
    validateAuth(scope, prefix, this.options.auth);
    return {
      type: this.type,
      metadata: renderMetadata(scope, prefix, this.metadata),
      maxTasks: target,
      countsInFlight: this.countsInFlight,
      auth: this.options.auth,
    };
  }
}

class RabbitMqTrigger extends ScaledJobTrigger {
  constructor(private readonly options: RabbitMqTriggerOptions) {
    super();
  }

  bind(scope: Construct, workload: TriggerWorkload): BoundTrigger {
    const o = this.options;
    const protocol = o.protocol ?? RabbitMqProtocol.AMQP;
    const mode = o.mode ?? RabbitMqMode.QUEUE_LENGTH;
    const value = o.value ?? 1;
    const byCount = mode === RabbitMqMode.QUEUE_LENGTH;
    requireTarget(scope, 'triggers.rabbitmq.value', value, byCount ? 1 : 0.001, byCount);
    requireTarget(scope, 'triggers.rabbitmq.activationValue', o.activationValue, 0, false);
    if (o.excludeUnacknowledged !== undefined && protocol !== RabbitMqProtocol.HTTP) {
      invalid(
        scope,
        'triggers.rabbitmq.excludeUnacknowledged',
        o.excludeUnacknowledged,
        'only applies to protocol http (amqp never counts unacknowledged messages)',
        'drop it, or use protocol: RabbitMqProtocol.HTTP with the management API URL as host',
      );
    }
    if (mode === RabbitMqMode.MESSAGE_RATE && protocol !== RabbitMqProtocol.HTTP) {
      invalid(
        scope,
        'triggers.rabbitmq.mode',
        mode,
        'needs the management API',
        'use protocol: RabbitMqProtocol.HTTP',
      );
    }
    if (protocol === RabbitMqProtocol.HTTP && o.auth === undefined) {
      invalid(
        scope,
        'triggers.rabbitmq.auth',
        undefined,
        "is required with protocol http: the agents' AMQP URL is not the management API URL",
        'pass auth: TriggerAuth.secrets({ host: secretKey(secret, "management-url") })',
      );
    }
    const auth = o.auth ?? TriggerAuth.secrets({ host: workload.queueSecret });
    validateAuth(scope, 'triggers.rabbitmq', auth);
    return {
      type: 'rabbitmq',
      metadata: renderMetadata(scope, 'triggers.rabbitmq', {
        protocol,
        queueName: o.queueName ?? workload.queueName,
        mode,
        value,
        activationValue: o.activationValue,
        vhostName: o.vhostName,
        excludeUnacknowledged: o.excludeUnacknowledged,
      }),
      maxTasks: byCount ? value : undefined,
      countsInFlight: protocol === RabbitMqProtocol.HTTP && o.excludeUnacknowledged !== true,
      auth,
    };
  }
}
