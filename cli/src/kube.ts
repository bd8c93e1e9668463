/**
 * Cluster access for `verify`, through @kubernetes/client-node 1.4 (an ES module, loaded with a dynamic
 * import from this CommonJS package). Errors say what is missing: kubeconfig, namespace, KEDA CRDs.
 */
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { credentialsOf, redact } from '@agent-fleet/contract';
import { CliError, type Secrets } from './io';

// Type queries with `resolution-mode` let this CommonJS module name the ES module's types (TS1541).
export type KubeModule = typeof import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' }});
export type V1Job = import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' }}).V1Job;
export type V1Pod = import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' }}).V1Pod;
type KubeConfig = InstanceType<KubeModule['KubeConfig']>;
type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

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
      throw new CliError(`cannot load the kubeconfig ${file} (${what}): ${loadErrorText(error)}`);
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

/**
 * Why a kubeconfig did not load. js-yaml's own message quotes the lines around the mistake, which may
 * be the token's line, and nothing parsed means no credential is known to hide: only the reason and
 * the position are kept.
 */
function loadErrorText(error: unknown): string {
  const e = error as {
    name?: unknown;
    reason?: unknown;
    mark?: { line?: unknown; column?: unknown };
    message?: unknown;
  };
  if (e?.name === 'YAMLException' && typeof e.reason === 'string') {
    const line = e.mark?.line;
    const column = e.mark?.column;
    const where =
      typeof line === 'number' && typeof column === 'number'
        ? ` (line ${line + 1}, column ${column + 1})`
        : '';
    return `not valid YAML: ${e.reason}${where}`;
  }
  return redact(String(e?.message ?? error));
}

/**
 * Auth-provider config keys whose values are credentials (`access-token`, `id-token`, `refresh-token`,
 * `client-secret`), not `tokenFile` or `token-key` (a path, a JSONPath).
 */
const CREDENTIAL_CONFIG_KEY = /(token|secret|password|passwd)$/i;
/** Exec env variables whose values are credentials (`AWS_SECRET_ACCESS_KEY`, `VAULT_TOKEN`, …). */
const CREDENTIAL_ENV_NAME = /token|secret|password|passwd|api_?key|access_?key/i;

/**
 * The credentials the current context's cluster and user hold, as far as the kubeconfig shows them:
 * the server's and proxy's URL userinfo, the bearer token, the basic-auth password, the client key
 * (base64 and PEM), auth-provider tokens and secrets, exec env values named like credentials. Tokens an
 * exec plugin prints are learned per request ({@link ClusterClient}).
 */
export function kubeconfigSecrets(kc: KubeConfig): string[] {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const secrets: string[] = [];
  if (cluster) {
    secrets.push(...credentialsOf(cluster.server));
    if (cluster.proxyUrl) {
      secrets.push(...credentialsOf(cluster.proxyUrl));
    }
  }
  if (user) {
    for (const value of [user.token, user.password]) {
      if (value) {
        secrets.push(value);
      }
    }
    if (user.keyData) {
      secrets.push(user.keyData, Buffer.from(user.keyData, 'base64').toString('utf8'));
    }
    const providerConfig = (user.authProvider as { config?: Record<string, unknown> } | undefined)?.config;
    for (const [key, value] of Object.entries(providerConfig ?? {})) {
      if (CREDENTIAL_CONFIG_KEY.test(key) && typeof value === 'string') {
        secrets.push(value);
      }
    }
    const execEnv = (user.exec as { env?: unknown } | undefined)?.env;
    for (const entry of Array.isArray(execEnv)
      ? (execEnv as Array<{ name?: unknown; value?: unknown }>)
      : []) {
      if (
        typeof entry?.name === 'string' &&
        CREDENTIAL_ENV_NAME.test(entry.name) &&
        typeof entry.value === 'string'
      ) {
        secrets.push(entry.value);
      }
    }
  }
  return secrets.filter((s) => s.trim() !== '');
}

/** The credentials in an Authorization header: its token, or a basic one and the password in it. */
function authorizationSecrets(header: unknown): string[] {
  if (typeof header !== 'string' || header.trim() === '') {
    return [];
  }
  const m = /^\s*(\S+)\s+(.+?)\s*$/.exec(header);
  if (!m) {
    return [header];
  }
  const secrets = [m[2]!];
  if (m[1]!.toLowerCase() === 'basic') {
    const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    secrets.push(decoded, colon >= 0 ? decoded.slice(colon + 1) : decoded);
  }
  return secrets;
}

/**
 * Why the connection to the current cluster's API server is not verified, in a warning that says what
 * would be exposed and how to fix it; undefined when TLS verification is on. `shown` is the server URL
 * as it may be printed (redacted).
 */
export function unverifiedTlsWarning(
  kc: KubeConfig,
  env: NodeJS.ProcessEnv,
  shown: string,
): string | undefined {
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    return undefined;
  }
  let why: string;
  let fix: string;
  if (/^http:/i.test(cluster.server)) {
    why = 'its URL is plain http://, so nothing is encrypted';
    fix = `give cluster "${cluster.name}" the API server's https:// address and its certificate-authority-data`;
  } else if (cluster.skipTLSVerify) {
    why = `the kubeconfig sets insecure-skip-tls-verify: true for cluster "${cluster.name}"`;
    fix =
      `set certificate-authority (a CA file) or certificate-authority-data (the base64 PEM of the CA that ` +
      `signed the API server's certificate) for cluster "${cluster.name}", and remove insecure-skip-tls-verify`;
  } else if (env.NODE_TLS_REJECT_UNAUTHORIZED === '0') {
    why = 'NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off for this process';
    fix = 'unset NODE_TLS_REJECT_UNAUTHORIZED';
  } else {
    return undefined;
  }
  const user = kc.getCurrentUser();
  const carried: string[] = [];
  if (user?.token) {
    carried.push('the bearer token');
  }
  if (user?.username) {
    carried.push('the password');
  }
  if (user?.exec) {
    carried.push("the exec plugin's token");
  }
  if (user?.authProvider) {
    carried.push(`the ${String((user.authProvider as { name?: unknown }).name ?? 'auth-provider')} token`);
  }
  if (carried.length === 0 && credentialsOf(cluster.server).length > 0) {
    // Without an Authorization header of the user's, the HTTP client sends the URL's userinfo as basic auth.
    carried.push('the credentials in the server URL');
  }
  const exposure =
    carried.length > 0
      ? `verify would send ${carried.join(' and ')}${user ? ` of user "${user.name}"` : ''} to whatever answers at that address: anyone in the middle of the connection could read ${carried.length > 1 ? 'them' : 'it'} and use ${carried.length > 1 ? 'them' : 'it'} against the cluster`
      : "anyone in the middle of the connection could answer in the API server's place";
  return (
    `TLS verification is off for the API server of cluster "${cluster.name}" (context "${kc.getCurrentContext()}") ` +
    `at ${shown}: ${why}. ${exposure}. Fix: ${fix}.`
  );
}

type Obj = Record<string, unknown>;

/** The API calls `verify` makes, with errors mapped to messages. */
export class ClusterClient {
  private readonly core: InstanceType<KubeModule['CoreV1Api']>;
  private readonly batch: InstanceType<KubeModule['BatchV1Api']>;
  private readonly custom: InstanceType<KubeModule['CustomObjectsApi']>;
  private readonly server: string;

  /**
   * `secrets` should already hold {@link kubeconfigSecrets}; the client adds the credentials each
   * request carries (an exec plugin's token is known only once it ran) and redacts every message.
   */
  constructor(
    k8s: KubeModule,
    private readonly kc: KubeConfig,
    private readonly secrets: Secrets,
  ) {
    // client-node authenticates each API call through the KubeConfig object itself: wrapping that
    // method sees the Authorization header of every request before it is sent.
    const authenticate = kc.applySecurityAuthentication.bind(kc);
    kc.applySecurityAuthentication = async (context: RequestContext) => {
      await authenticate(context);
      const headers = context.getHeaders();
      this.secrets.add(...authorizationSecrets(headers.Authorization ?? headers.authorization));
    };
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.batch = kc.makeApiClient(k8s.BatchV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.server = kc.getCurrentCluster()!.server;
  }

  /** The API server's URL as it may be printed: without the credentials of its userinfo. */
  get shownServer(): string {
    return this.secrets.redact(this.server);
  }

  private fail(error: unknown, what: string): never {
    throw new CliError(this.secrets.redact(this.failureText(error, what)));
  }

  private failureText(error: unknown, what: string): string {
    const server = this.shownServer;
    const e = error as { code?: unknown; message?: string; cause?: { code?: string } };
    const status = typeof e.code === 'number' ? e.code : undefined;
    if (status === 401) {
      return `${what}: the API server at ${server} rejected the credentials (401); refresh your kubeconfig.`;
    }
    if (status === 403) {
      return `${what}: forbidden (403) at ${server}; your user needs RBAC permission for it.`;
    }
    if (status !== undefined) {
      return `${what}: the API server at ${server} answered ${status}.`;
    }
    const code = e.cause?.code ?? (typeof e.code === 'string' ? e.code : undefined);
    const message = e.message ?? String(error);
    if (code === undefined && /protocol|TLS|certificate/i.test(message)) {
      return `${what}: request to the API server at ${server} failed: ${message}`;
    }
    return `${what}: cannot reach the API server at ${server}${code ? ` (${code})` : ''}: ${message}`;
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
          `namespace "${namespace}" does not exist in the cluster at ${this.shownServer}; check -n.`,
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
    const auth = (options as { auth?: unknown }).auth;
    this.secrets.add(
      ...authorizationSecrets((options.headers as Record<string, unknown> | undefined)?.Authorization),
      typeof auth === 'string' ? auth.slice(auth.indexOf(':') + 1) : undefined,
      typeof options.key === 'string' || Buffer.isBuffer(options.key) ? String(options.key) : undefined,
    );
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
      req.on('error', (error: Error) => reject(new Error(this.secrets.redact(error.message))));
      req.end();
    });
  }
}
