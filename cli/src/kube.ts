/**
 * Cluster access for `verify`, through @kubernetes/client-node 1.4 (an ES module, loaded with a dynamic
 * import from this CommonJS package). Errors say what is missing: kubeconfig, namespace, KEDA CRDs.
 */
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliError } from './io';

// Type queries with `resolution-mode` let this CommonJS module name the ES module's types (TS1541).
export type KubeModule = typeof import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' }});
export type V1Job = import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' }}).V1Job;
export type V1Pod = import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' }}).V1Pod;
type KubeConfig = InstanceType<KubeModule['KubeConfig']>;

/** KEDA's API group and version for ScaledJobs. */
export const KEDA_GROUP = 'keda.sh';
export const KEDA_VERSION = 'v1alpha1';
export const SCALEDJOB_PLURAL = 'scaledjobs';

export async function loadKubeModule(): Promise<KubeModule> {
  return import('@kubernetes/client-node');
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads the kubeconfig the way kubectl finds it: `--kubeconfig`, else the first file of `$KUBECONFIG`, else
 * `~/.kube/config`, else the in-cluster service account. Errors when none is there (client-node itself
 * would silently fall back to http://localhost:8080).
 */
export function loadKubeConfig(
  k8s: KubeModule,
  kubeconfigFlag: string | undefined,
  env: NodeJS.ProcessEnv,
): KubeConfig {
  const kc = new k8s.KubeConfig();
  let source: string;
  const load = (file: string, what: string) => {
    try {
      kc.loadFromFile(file);
    } catch (error) {
      throw new CliError(`cannot load the kubeconfig ${file} (${what}): ${(error as Error).message}`);
    }
    source = file;
  };
  if (kubeconfigFlag !== undefined) {
    if (!existsSync(kubeconfigFlag)) {
      throw new CliError(`no kubeconfig: --kubeconfig ${kubeconfigFlag} does not exist.`);
    }
    load(kubeconfigFlag, '--kubeconfig');
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(path.delimiter).filter((f) => f !== '');
    const first = files.find((f) => existsSync(f));
    if (first === undefined) {
      throw new CliError(`no kubeconfig: none of the files in $KUBECONFIG exists (${files.join(', ')}).`);
    }
    load(first, '$KUBECONFIG');
  } else {
    const home = env.HOME ?? os.homedir();
    const file = path.join(home, '.kube', 'config');
    if (existsSync(file)) {
      load(file, '~/.kube/config');
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
      kc.loadFromCluster();
      source = 'in-cluster service account';
    } else {
      throw new CliError(
        'no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config (e.g. with your cloud CLI).',
      );
    }
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new CliError(
      `the kubeconfig ${source!} has no current context with a cluster; run kubectl config use-context NAME.`,
    );
  }
  return kc;
}

type Obj = Record<string, unknown>;

/** The API calls `verify` makes, with errors mapped to messages. */
export class ClusterClient {
  private readonly core: InstanceType<KubeModule['CoreV1Api']>;
  private readonly batch: InstanceType<KubeModule['BatchV1Api']>;
  private readonly custom: InstanceType<KubeModule['CustomObjectsApi']>;
  readonly server: string;

  constructor(
    k8s: KubeModule,
    private readonly kc: KubeConfig,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.batch = kc.makeApiClient(k8s.BatchV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.server = kc.getCurrentCluster()!.server;
  }

  private fail(error: unknown, what: string): never {
    const e = error as { code?: unknown; message?: string; cause?: { code?: string } };
    const status = typeof e.code === 'number' ? e.code : undefined;
    if (status === 401) {
      throw new CliError(
        `${what}: the API server at ${this.server} rejected the credentials (401); refresh your kubeconfig.`,
      );
    }
    if (status === 403) {
      throw new CliError(
        `${what}: forbidden (403) at ${this.server}; your user needs RBAC permission for it.`,
      );
    }
    if (status !== undefined) {
      throw new CliError(`${what}: the API server at ${this.server} answered ${status}.`);
    }
    const code = e.cause?.code ?? (typeof e.code === 'string' ? e.code : undefined);
    const message = e.message ?? String(error);
    if (code === undefined && /protocol|TLS|certificate/i.test(message)) {
      throw new CliError(`${what}: request to the API server at ${this.server} failed: ${message}`);
    }
    throw new CliError(
      `${what}: cannot reach the API server at ${this.server}${code ? ` (${code})` : ''}: ${message}`,
    );
  }

  /**
   * Throws a clear error when the namespace does not exist. Namespaces are cluster-scoped: a user with only
   * a namespaced Role may not read them (403), so that answer is 'unknown' rather than an error.
   */
  async checkNamespace(namespace: string): Promise<'exists' | 'unknown'> {
    try {
      await this.core.readNamespace({ name: namespace });
      return 'exists';
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 404) {
        throw new CliError(
          `namespace "${namespace}" does not exist in the cluster at ${this.server}; check -n.`,
        );
      }
      if (code === 403) {
        return 'unknown';
      }
      this.fail(error, `reading namespace "${namespace}"`);
    }
  }

  /** The namespace's ScaledJobs; a 404 means KEDA's CRDs are not installed. */
  async listScaledJobs(namespace: string): Promise<Obj[]> {
    try {
      const list = (await this.custom.listNamespacedCustomObject({
        group: KEDA_GROUP,
        version: KEDA_VERSION,
        namespace,
        plural: SCALEDJOB_PLURAL,
      })) as { items?: Obj[] };
      return list.items ?? [];
    } catch (error) {
      if ((error as { code?: unknown }).code === 404) {
        throw new CliError(
          `KEDA is not installed: the API server has no ${SCALEDJOB_PLURAL}.${KEDA_GROUP}/${KEDA_VERSION} resource (CRDs absent). Install KEDA 2.16 first.`,
        );
      }
      this.fail(error, `listing ScaledJobs in "${namespace}"`);
    }
  }

  async listJobs(namespace: string): Promise<V1Job[]> {
    try {
      return (await this.batch.listNamespacedJob({ namespace })).items;
    } catch (error) {
      this.fail(error, `listing Jobs in "${namespace}"`);
    }
  }

  async listPods(namespace: string): Promise<V1Pod[]> {
    try {
      return (await this.core.listNamespacedPod({ namespace })).items;
    } catch (error) {
      this.fail(error, `listing pods in "${namespace}"`);
    }
  }

  /**
   * GET `/api/v1/namespaces/{ns}/pods/{name}:{port}/proxy{path}` through the API server's pod proxy, with
   * the kubeconfig's TLS settings and credentials. Resolves to the body; rejects with the HTTP status.
   */
  async podProxyGet(namespace: string, pod: string, port: number, proxyPath: string): Promise<string> {
    const base = new URL(this.server);
    const prefix = base.pathname.replace(/\/$/, '');
    const target = new URL(
      `${prefix}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}:${port}/proxy${proxyPath}`,
      base,
    );
    const options: https.RequestOptions = {
      method: 'GET',
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port || undefined,
      path: target.pathname + target.search,
      headers: { Accept: 'text/plain' },
      timeout: 10_000,
    };
    await this.kc.applyToHTTPSOptions(options);
    const lib = target.protocol === 'https:' ? https : http;
    return new Promise<string>((resolve, reject) => {
      const req = lib.request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) {
            resolve(body);
          } else {
            reject(new Error(`HTTP ${res.statusCode}`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  }
}
