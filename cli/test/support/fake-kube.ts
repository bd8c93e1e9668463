/**
 * A fake Kubernetes API server for `verify` tests: answers exactly the paths `agent-fleet verify` uses
 * (namespace read, ScaledJob list, Job list, pod list, pod proxy to /metrics) from in-memory state, and
 * requires the kubeconfig's bearer token. No cluster runs on the test machines; this is not one.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export type Obj = Record<string, unknown>;

export const FAKE_TOKEN = 'fake-token-for-tests';

export interface FakeClusterState {
  namespaces: Set<string>;
  /** Answer 403 to namespace reads (a user with a namespaced Role only). */
  namespaceReadForbidden: boolean;
  kedaInstalled: boolean;
  /** ScaledJobs by namespace. */
  scaledJobs: Map<string, Obj[]>;
  jobs: Obj[];
  pods: Obj[];
  /** `/metrics` bodies by pod name (pods without one answer 503, like a pod whose port is closed). */
  metrics: Map<string, string>;
}

/** A self-signed certificate for 127.0.0.1 (client-node 1.4 refuses plain http without skip-TLS-verify). */
export interface Tls {
  readonly key: string;
  readonly cert: string;
}

export function selfSignedCert(): Tls {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fake-apiserver-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=fake-apiserver',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(path.join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface FakeApiServer {
  readonly url: string;
  readonly state: FakeClusterState;
  /** Every request path, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

function status(res: http.ServerResponse, code: number, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code }));
}

function json(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function emptyState(): FakeClusterState {
  return {
    namespaces: new Set(),
    namespaceReadForbidden: false,
    kedaInstalled: true,
    scaledJobs: new Map(),
    jobs: [],
    pods: [],
    metrics: new Map(),
  };
}

export async function startFakeApiServer(
  tls: Tls,
  state: FakeClusterState = emptyState(),
  options: { token?: string } = {},
): Promise<FakeApiServer> {
  const token = options.token ?? FAKE_TOKEN;
  const requests: string[] = [];
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    requests.push(path);
    if (req.headers.authorization !== `Bearer ${token}`) {
      status(res, 401, 'Unauthorized');
      return;
    }
    let m: RegExpExecArray | null;
    m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path);
    if (m) {
      if (state.namespaceReadForbidden) {
        status(res, 403, `namespaces "${m[1]}" is forbidden: User "tester" cannot get resource "namespaces"`);
        return;
      }
      if (!state.namespaces.has(m[1]!)) {
        status(res, 404, `namespaces "${m[1]}" not found`);
        return;
      }
      json(res, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: m[1] },
        status: { phase: 'Active' },
      });
      return;
    }
    m = /^\/apis\/keda\.sh\/v1alpha1\/namespaces\/([^/]+)\/scaledjobs$/.exec(path);
    if (m) {
      if (!state.kedaInstalled) {
        status(res, 404, 'the server could not find the requested resource');
        return;
      }
      json(res, {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledJobList',
        items: state.scaledJobs.get(m[1]!) ?? [],
      });
      return;
    }
    m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/.exec(path);
    if (m) {
      const items = state.jobs.filter((j) => (j.metadata as Obj).namespace === m![1]);
      json(res, { apiVersion: 'batch/v1', kind: 'JobList', metadata: {}, items });
      return;
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
    if (m) {
      const items = state.pods.filter((p) => (p.metadata as Obj).namespace === m![1]);
      json(res, { apiVersion: 'v1', kind: 'PodList', metadata: {}, items });
      return;
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/:]+):(\d+)\/proxy\/metrics$/.exec(path);
    if (m) {
      const pod = state.pods.find(
        (p) => (p.metadata as Obj).name === m![2] && (p.metadata as Obj).namespace === m![1],
      );
      const port = ((((pod?.spec as Obj)?.containers as Obj[]) ?? [])[0]?.ports as Obj[] | undefined)?.[0]
        ?.containerPort;
      const body = state.metrics.get(m[2]!);
      if (!pod || String(port) !== m[3] || body === undefined) {
        status(res, 503, `error trying to reach service: dial tcp: connection refused`);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(body);
      return;
    }
    status(res, 404, 'the server could not find the requested resource');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    state,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A kubeconfig file body pointing at the fake server, trusting its certificate, with the token it
 * requires; `insecureSkipTlsVerify` replaces the trusted certificate with `insecure-skip-tls-verify: true`.
 */
export function kubeconfigFor(
  server: string,
  caCert: string,
  token = FAKE_TOKEN,
  options: { insecureSkipTlsVerify?: boolean } = {},
): string {
  const trust = options.insecureSkipTlsVerify
    ? 'insecure-skip-tls-verify: true'
    : `certificate-authority-data: ${Buffer.from(caCert).toString('base64')}`;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `  - name: fake\n    cluster:\n      server: ${JSON.stringify(server)}\n      ${trust}`,
    'users:',
    `  - name: tester\n    user:\n      token: ${JSON.stringify(token)}`,
    'contexts:',
    '  - name: fake\n    context:\n      cluster: fake\n      user: tester',
    'current-context: fake',
    '',
  ].join('\n');
}

/** A ScaledJob like the synthesized one: a rabbitmq trigger on `queue`. */
export function scaledJob(name: string, namespace: string, queue: string): Obj {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    metadata: { name, namespace },
    spec: {
      triggers: [
        {
          type: 'rabbitmq',
          metadata: { mode: 'QueueLength', protocol: 'amqp', queueName: queue, value: '5' },
        },
      ],
    },
  };
}

/** A Job created by KEDA for the ScaledJob, and its pod (Running, metrics port 8080 named "metrics"). */
export function jobAndPod(scaledJobName: string, namespace: string, jobName: string): { job: Obj; pod: Obj } {
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName,
      namespace,
      labels: { 'scaledjob.keda.sh/name': scaledJobName },
      ownerReferences: [
        { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledJob', name: scaledJobName, uid: 'sj-uid' },
      ],
    },
    spec: { template: { spec: { containers: [{ name: 'agent', image: 'agent' }] } } },
    status: { active: 1 },
  };
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${jobName}-pod`,
      namespace,
      labels: { 'batch.kubernetes.io/job-name': jobName, 'job-name': jobName },
      ownerReferences: [
        { apiVersion: 'batch/v1', kind: 'Job', name: jobName, uid: `${jobName}-uid`, controller: true },
      ],
    },
    spec: {
      containers: [{ name: 'agent', image: 'agent', ports: [{ name: 'metrics', containerPort: 8080 }] }],
    },
    status: { phase: 'Running' },
  };
  return { job, pod };
}

/** A Prometheus exposition of the completed-task counter. */
export function completedMetrics(metricName: string, succeeded: number, failed: number): string {
  return [
    `# HELP ${metricName} Tasks finished, by status.`,
    `# TYPE ${metricName} counter`,
    `${metricName}{status="succeeded"} ${succeeded}`,
    `${metricName}{status="failed"} ${failed}`,
    'process_cpu_seconds_total 1.5',
    '',
  ].join('\n');
}
