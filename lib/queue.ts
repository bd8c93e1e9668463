import type { ISecret } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import { invalid, requireDnsSubdomain } from './internal/validation';

/**
 * Where agents find the task queue's connection URL: always a key of a Kubernetes Secret, injected
 * as `TASK_QUEUE_URL` through `secretKeyRef`. A literal URL would publish the broker password in
 * every manifest, every snapshot and every `kubectl get -o yaml`, so there is no factory for one.
 */
export class QueueConnection {
  /**
   * The AMQP URL (`amqp://user:password@host:5672/vhost`) stored under `key` of `secret`.
   * @param secret the Secret, e.g. `Secret.fromSecretName(this, 'Rmq', 'agent-secrets')`
   * @param key the key holding the URL; @default "url"
   */
  static fromSecret(secret: ISecret, key = 'url'): QueueConnection {
    return new QueueConnection(secret.name, key);
  }

  /** A Secret known only by name (for example created by External Secrets or Sealed Secrets). */
  static fromSecretName(secretName: string, key = 'url'): QueueConnection {
    return new QueueConnection(secretName, key);
  }

  private constructor(
    readonly secretName: string,
    readonly key: string,
  ) {}

  /** Checks the reference at synth time; called by the workloads that use it. */
  validate(scope: Construct): void {
    requireDnsSubdomain(scope, 'queue.secretName', this.secretName);
    if (!/^[-._a-zA-Z0-9]+$/.test(this.key)) {
      invalid(
        scope,
        'queue.key',
        this.key,
        'is not a valid Secret key',
        'use letters, digits, "-", "_" or "."',
      );
    }
  }
}
