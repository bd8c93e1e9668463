/**
 * The validators the construct tests rely on must be able to fail: each gets a valid object and
 * deliberately broken ones.
 */
import { Testing } from 'cdk8s';
import fc from 'fast-check';
import { AgentJob, Quantity, QueueConnection } from '../lib';
import { restrictedViolations, validateKubernetesObject } from '../validate/src';
import { manifestProblems, only, synthValid } from './support/manifests';

function validJob() {
  const chart = Testing.chart();
  new AgentJob(chart, 'Agents', { image: 'agent:1.0.0', queue: QueueConnection.fromSecretName('s') });
  return only(synthValid(chart), 'Job');
}

describe('Kubernetes 1.32 schema check', () => {
  test('accepts a synthesized Job', () => {
    expect(validateKubernetesObject(validJob())).toEqual([]);
  });

  test('rejects unknown fields at any depth', () => {
    const job = validJob();
    job.spec.parallelismm = 3;
    job.spec.template.spec.containers[0].securityContext.readOnlyRootFS = true;
    expect(validateKubernetesObject(job)).toEqual([
      {
        field: 'spec.template.spec.containers[0].securityContext.readOnlyRootFS',
        message: 'unknown field "readOnlyRootFS" in V1SecurityContext (Kubernetes 1.32)',
      },
      { field: 'spec.parallelismm', message: 'unknown field "parallelismm" in V1JobSpec (Kubernetes 1.32)' },
    ]);
  });

  test('rejects fields newer than 1.32', () => {
    const job = validJob();
    // PodSpec.hostnameOverride arrived in Kubernetes 1.34; a 1.32 API server refuses it.
    job.spec.template.spec.hostnameOverride = 'agent';
    expect(validateKubernetesObject(job)).toContainEqual({
      field: 'spec.template.spec.hostnameOverride',
      message: 'unknown field "hostnameOverride" in V1PodSpec (Kubernetes 1.32)',
    });
  });

  test('rejects malformed quantities and wrong types', () => {
    const job = validJob();
    job.spec.template.spec.containers[0].resources.limits.memory = '4Gb';
    job.spec.completions = 'ten';
    expect(validateKubernetesObject(job)).toEqual([
      { field: 'spec.completions', message: 'must be integer' },
      {
        field: 'spec.template.spec.containers[0].resources.limits.memory',
        message: 'must match format "quantity"',
      },
    ]);
  });

  test('rejects a type it does not know', () => {
    expect(validateKubernetesObject({ apiVersion: 'batch/v9', kind: 'Job' })).toEqual([
      { field: 'apiVersion', message: 'batch/v9 Job is not a Kubernetes 1.32 type' },
    ]);
  });
});

describe('Pod Security "restricted" check', () => {
  test('accepts the synthesized pod', () => {
    expect(restrictedViolations(validJob().spec.template.spec)).toEqual([]);
  });

  // biome-ignore lint/suspicious/noExplicitAny: mutates untyped synthesized JSON
  const breakers: Record<string, (spec: any) => void> = {
    'allowPrivilegeEscalation must be false': (s) =>
      delete s.containers[0].securityContext.allowPrivilegeEscalation,
    'runAsNonRoot must be true': (s) => {
      delete s.securityContext.runAsNonRoot;
      delete s.containers[0].securityContext.runAsNonRoot;
    },
    'capabilities.drop must include ALL': (s) =>
      (s.containers[0].securityContext.capabilities.drop = ['NET_RAW']),
    'may only hold NET_BIND_SERVICE': (s) =>
      (s.containers[0].securityContext.capabilities.add = ['SYS_ADMIN']),
    'seccompProfile must be RuntimeDefault or Localhost': (s) =>
      (s.containers[0].securityContext.seccompProfile = { type: 'Unconfined' }),
    'hostPath volumes are not allowed': (s) => s.volumes.push({ name: 'host', hostPath: { path: '/var' } }),
    'hostNetwork must be unset or false': (s) => (s.hostNetwork = true),
    'privileged must be false': (s) => (s.containers[0].securityContext.privileged = true),
    'hostPort 8080 is not allowed': (s) => (s.containers[0].ports[0].hostPort = 8080),
    'runAsUser must not be 0': (s) => (s.securityContext.runAsUser = 0),
  };

  test.each(Object.entries(breakers))('reports: %s', (message, breakIt) => {
    const spec = validJob().spec.template.spec;
    breakIt(spec);
    expect(
      restrictedViolations(spec)
        .map((v) => `${v.field} ${v.message}`)
        .join('\n'),
    ).toContain(message);
  });

  test('a seccomp profile set only at pod level satisfies every container', () => {
    const spec = validJob().spec.template.spec;
    delete spec.containers[0].securityContext.seccompProfile;
    expect(restrictedViolations(spec)).toEqual([]);
    delete spec.securityContext.seccompProfile;
    expect(
      restrictedViolations(spec)
        .map((v) => `${v.field} ${v.message}`)
        .join(),
    ).toMatch(/seccompProfile must be RuntimeDefault/);
  });
});

describe('quantities', () => {
  const suffix = fc.constantFrom('', 'm', 'k', 'M', 'G', 'Ki', 'Mi', 'Gi', 'Ti', 'e3', 'E6');
  const valid = fc
    .tuple(fc.integer({ min: 0, max: 100000 }), fc.option(fc.integer({ min: 0, max: 999 })), suffix)
    .map(([whole, frac, s]) => `${whole}${frac === null ? '' : `.${frac}`}${s}`);

  test('every string Kubernetes accepts parses, and both validators agree', () => {
    fc.assert(
      fc.property(valid, (q) => {
        expect(Quantity.of(q).toNumber()).toBeGreaterThanOrEqual(0);
        const job = validJob();
        job.spec.template.spec.containers[0].resources.limits.memory = q;
        expect(manifestProblems(job)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  test('strings Kubernetes refuses do not parse', () => {
    for (const q of ['4Gb', '2 Gi', 'Gi', '', '-1Gi', '1.2.3', '10gi', '5 ', '1e', '3KiB']) {
      expect(Quantity.of(q).toNumber()).toBeUndefined();
    }
  });

  test('typed factories give exact values', () => {
    expect(Quantity.gibibytes(4).value).toBe('4Gi');
    expect(Quantity.gibibytes(4).toNumber()).toBe(4 * 2 ** 30);
    expect(Quantity.cpuMillis(1500).toNumber()).toBe(1.5);
    expect(Quantity.cpus(0.25).value).toBe('250m');
    expect(Quantity.cpus(2).value).toBe('2');
    expect(() => Quantity.gibibytes(1.5)).toThrow(/gibibytes\(1.5\): use a whole number/);
  });
});
