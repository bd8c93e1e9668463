import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ScaledJobSpecJobTargetRefTemplateSpecContainersResourcesLimits as Limits,
  ScaledJobSpecJobTargetRefTemplateSpecContainersResourcesRequests as Requests,
  ScaledJob,
  TriggerAuthentication,
} from '../../imports/keda-keda.sh';
import {
  PodMonitor,
  PodMonitorSpecPodMetricsEndpointsTargetPort,
  PrometheusRule,
  PrometheusRuleSpecGroupsRulesExpr,
} from '../../imports/monitoring-monitoring.coreos.com';
import {
  assertValidCustomResource,
  CRD_SCHEMA_DIR,
  compileCustomResourceSchema,
  compileStructuralSchema,
  hasCustomResourceSchema,
  listCustomResourceSchemas,
  translateGoPattern,
  validateCustomResource,
} from '../src/custom-resource-schema';

// biome-ignore lint/suspicious/noExplicitAny: test fixtures are free-form JSON that each test mutates
type Json = any;

/** A minimal valid ScaledJob: Job template with one container, one rabbitmq trigger with authenticationRef. */
function scaledJob(): Json {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    metadata: { name: 'agents', namespace: 'fleet', labels: { 'app.kubernetes.io/name': 'agents' } },
    spec: {
      pollingInterval: 10,
      maxReplicaCount: 20,
      jobTargetRef: {
        parallelism: 1,
        backoffLimit: 2,
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'worker',
                image: 'ghcr.io/example/agent-worker:1.0.0',
                env: [{ name: 'QUEUE', value: 'tasks' }],
                resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: 1, memory: '1Gi' } },
              },
            ],
          },
        },
      },
      triggers: [
        {
          type: 'rabbitmq',
          metadata: { queueName: 'tasks', mode: 'QueueLength', value: '1', protocol: 'amqp' },
          authenticationRef: { name: 'rabbitmq-auth' },
        },
      ],
    },
  };
}

function triggerAuthentication(): Json {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    metadata: { name: 'rabbitmq-auth', namespace: 'fleet' },
    spec: { secretTargetRef: [{ parameter: 'host', name: 'rabbitmq', key: 'url' }] },
  };
}

function podMonitor(): Json {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: { name: 'agents' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      podMetricsEndpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
    },
  };
}

function prometheusRule(): Json {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'agents' },
    spec: {
      groups: [
        {
          name: 'agents',
          interval: '1m',
          rules: [
            { record: 'fleet:tasks_failed:rate5m', expr: 'sum(rate(agent_tasks_failed_total[5m]))' },
            {
              alert: 'AgentTasksFailing',
              expr: 'fleet:tasks_failed:rate5m > 0',
              for: '10m',
              labels: { severity: 'warning' },
              annotations: { summary: 'Agent tasks are failing' },
            },
          ],
        },
      ],
    },
  };
}

describe('the shipped CRD schemas (schemas/crds)', () => {
  const schemas = listCustomResourceSchemas();

  test('cover the KEDA, prometheus-operator and Kueue kinds we generate', () => {
    expect(schemas.map((s) => `${s.apiVersion} ${s.kind}`).sort()).toEqual([
      'keda.sh/v1alpha1 ClusterTriggerAuthentication',
      'keda.sh/v1alpha1 ScaledJob',
      'keda.sh/v1alpha1 ScaledObject',
      'keda.sh/v1alpha1 TriggerAuthentication',
      'kueue.x-k8s.io/v1beta1 ClusterQueue',
      'kueue.x-k8s.io/v1beta1 LocalQueue',
      'kueue.x-k8s.io/v1beta1 ResourceFlavor',
      'kueue.x-k8s.io/v1beta1 WorkloadPriorityClass',
      'kueue.x-k8s.io/v1beta2 ClusterQueue',
      'kueue.x-k8s.io/v1beta2 LocalQueue',
      'kueue.x-k8s.io/v1beta2 ResourceFlavor',
      'kueue.x-k8s.io/v1beta2 WorkloadPriorityClass',
      'monitoring.coreos.com/v1 PodMonitor',
      'monitoring.coreos.com/v1 PrometheusRule',
      'monitoring.coreos.com/v1 ServiceMonitor',
    ]);
  });

  test.each(schemas.map((s) => [path.basename(s.file), s] as const))(
    '%s is named, sourced and compiles',
    (_, s) => {
      const [group, version] = s.apiVersion.split('/');
      expect(path.basename(s.file)).toBe(`${group}_${s.kind.toLowerCase()}_${version}.json`);
      expect(s.source).toMatch(/^[^/]+\/[^/]+\.ya?ml$/);
      expect(typeof compileCustomResourceSchema(s.apiVersion, s.kind)).toBe('function');
      // Deterministic formatting as written by scripts/extract-crd-schemas.js.
      const text = fs.readFileSync(s.file, 'utf8');
      expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
    },
  );

  test('every JSON file in the directory is indexed', () => {
    const files = fs.readdirSync(CRD_SCHEMA_DIR).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(schemas.map((s) => path.basename(s.file)).sort());
  });

  test('compiled validators are cached', () => {
    expect(compileCustomResourceSchema('keda.sh/v1alpha1', 'ScaledJob')).toBe(
      compileCustomResourceSchema('keda.sh/v1alpha1', 'ScaledJob'),
    );
  });
});

describe('KEDA', () => {
  test('a minimal ScaledJob and TriggerAuthentication are valid', () => {
    expect(validateCustomResource(scaledJob())).toEqual([]);
    expect(validateCustomResource(triggerAuthentication())).toEqual([]);
    expect(() => assertValidCustomResource(scaledJob())).not.toThrow();
  });

  test('objects rendered by the generated cdk8s classes are valid', () => {
    // The generated classes take int-or-string values as wrapper objects (`.value` is what is rendered):
    // a raw '1Gi' where the type says ...ResourcesLimits would render as undefined.
    const { apiVersion: _a, kind: _k, ...props } = scaledJob();
    props.spec.jobTargetRef.template.spec.containers[0].resources = {
      requests: { cpu: Requests.fromString('250m'), memory: Requests.fromString('256Mi') },
      limits: { cpu: Limits.fromNumber(1), memory: Limits.fromString('1Gi') },
    };
    const rendered = ScaledJob.manifest(props);
    expect(rendered).toEqual(scaledJob());
    expect(validateCustomResource(rendered)).toEqual([]);
    const { apiVersion: _b, kind: _l, ...authProps } = triggerAuthentication();
    expect(validateCustomResource(TriggerAuthentication.manifest(authProps))).toEqual([]);
  });

  test('the JSON form is validated: undefined values count as absent', () => {
    const obj = scaledJob();
    obj.spec.envSourceContainerName = undefined;
    expect(validateCustomResource(obj)).toEqual([]);
    obj.spec.triggers = undefined;
    expect(validateCustomResource(obj)).toEqual(['/spec/triggers: required field is missing']);
  });

  test.each([
    ['top level', (o: Json) => (o.extra = true), '/extra: unknown field "extra"'],
    ['metadata', (o: Json) => (o.metadata.label = { a: 'b' }), '/metadata/label: unknown field "label"'],
    [
      'spec',
      (o: Json) => (o.spec.pollingIntervall = 5),
      '/spec/pollingIntervall: unknown field "pollingIntervall"',
    ],
    [
      'trigger authenticationRef',
      (o: Json) => (o.spec.triggers[0].authenticationRef.namespace = 'x'),
      '/spec/triggers/0/authenticationRef/namespace: unknown field "namespace"',
    ],
    [
      'container in the pod template',
      (o: Json) => (o.spec.jobTargetRef.template.spec.containers[0].imagePullPolcy = 'Always'),
      '/spec/jobTargetRef/template/spec/containers/0/imagePullPolcy: unknown field "imagePullPolcy"',
    ],
    [
      'env entry',
      (o: Json) => (o.spec.jobTargetRef.template.spec.containers[0].env[0].valueFom = {}),
      '/spec/jobTargetRef/template/spec/containers/0/env/0/valueFom: unknown field "valueFom"',
    ],
  ])('an unknown field in %s fails, naming its path', (_, mutate, expected) => {
    const obj = scaledJob();
    mutate(obj);
    expect(validateCustomResource(obj)).toEqual([expected]);
  });

  test.each([
    [
      'an int32 given as string',
      (o: Json) => (o.spec.pollingInterval = '10'),
      '/spec/pollingInterval: must be integer',
    ],
    [
      'a fraction for an int32',
      (o: Json) => (o.spec.jobTargetRef.parallelism = 1.5),
      '/spec/jobTargetRef/parallelism: must be integer',
    ],
    [
      'an int32 out of range',
      (o: Json) => (o.spec.maxReplicaCount = 2 ** 31),
      '/spec/maxReplicaCount: must match format "int32"',
    ],
    [
      'a number in a string map',
      (o: Json) => (o.spec.triggers[0].metadata.value = 1),
      '/spec/triggers/0/metadata/value: must be string',
    ],
    [
      'an object instead of a list',
      (o: Json) => (o.spec.triggers = o.spec.triggers[0]),
      '/spec/triggers: must be array',
    ],
    [
      'a string instead of a boolean',
      (o: Json) => (o.spec.jobTargetRef.suspend = 'false'),
      '/spec/jobTargetRef/suspend: must be boolean',
    ],
  ])('%s fails', (_, mutate, expected) => {
    const obj = scaledJob();
    mutate(obj);
    expect(validateCustomResource(obj)).toEqual([expected]);
  });

  test('required fields are reported where they are missing', () => {
    const obj = scaledJob();
    delete obj.spec.triggers;
    delete obj.spec.jobTargetRef.template.spec.containers[0].name;
    expect(validateCustomResource(obj)).toEqual([
      '/spec/jobTargetRef/template/spec/containers/0/name: required field is missing',
      '/spec/triggers: required field is missing',
    ]);
  });

  test('int-or-string fields accept integers and strings, and nothing else', () => {
    const obj = scaledJob();
    const container = obj.spec.jobTargetRef.template.spec.containers[0];
    container.resources.limits = { cpu: 2, memory: '512Mi' };
    container.readinessProbe = { httpGet: { path: '/healthz', port: 8080 } };
    container.livenessProbe = { httpGet: { path: '/healthz', port: 'http' } };
    expect(validateCustomResource(obj)).toEqual([]);

    container.resources.limits.cpu = true;
    container.readinessProbe.httpGet.port = 80.5;
    container.livenessProbe.httpGet.port = { name: 'http' };
    expect(validateCustomResource(obj)).toEqual([
      '/spec/jobTargetRef/template/spec/containers/0/livenessProbe/httpGet/port: must be integer,string',
      '/spec/jobTargetRef/template/spec/containers/0/readinessProbe/httpGet/port: must be integer,string',
      '/spec/jobTargetRef/template/spec/containers/0/resources/limits/cpu: must be integer,string',
    ]);
  });

  test('the quantity pattern applies to the string form of an int-or-string', () => {
    const obj = scaledJob();
    obj.spec.jobTargetRef.template.spec.containers[0].resources.limits.memory = '4Gb';
    const [error, ...rest] = validateCustomResource(obj);
    expect(rest).toEqual([]);
    expect(error).toMatch(
      /^\/spec\/jobTargetRef\/template\/spec\/containers\/0\/resources\/limits\/memory: must match pattern/,
    );
  });

  test('list-type=map lists reject duplicate keys, using key defaults (ports: containerPort+protocol)', () => {
    const obj = scaledJob();
    const container = obj.spec.jobTargetRef.template.spec.containers[0];
    container.ports = [{ containerPort: 8080 }, { containerPort: 8080, protocol: 'UDP' }];
    expect(validateCustomResource(obj)).toEqual([]);
    container.ports.push({ containerPort: 8080, protocol: 'TCP' }); // protocol defaults to TCP
    expect(validateCustomResource(obj)).toEqual([
      '/spec/jobTargetRef/template/spec/containers/0/ports: entries 0 and 2 have the same key [8080,"TCP"] (list-map-keys ["containerPort","protocol"])',
    ]);
  });

  test('top-level apiVersion, kind and metadata are checked', () => {
    const noMetadata = scaledJob();
    delete noMetadata.metadata;
    expect(validateCustomResource(noMetadata)).toEqual(['/metadata: required field is missing']);

    const badMetadata = scaledJob();
    badMetadata.metadata = { name: 'Agents_1', labels: { app: 7, ok: 'not valid!' } };
    expect(validateCustomResource(badMetadata)).toEqual([
      '/metadata/labels/app: must be string',
      expect.stringMatching(/^\/metadata\/labels\/ok: must match pattern/),
      expect.stringMatching(/^\/metadata\/name: must match pattern/),
    ]);

    const noName = scaledJob();
    noName.metadata = { namespace: 'fleet' };
    expect(validateCustomResource(noName)).toEqual(['/metadata/name: required field is missing']);

    const notAnObject = scaledJob();
    notAnObject.metadata = 'agents';
    expect(validateCustomResource(notAnObject)).toEqual(['/metadata: must be object']);
  });

  test('assertValidCustomResource lists every error with its path', () => {
    const obj = scaledJob();
    obj.spec.pollingInterval = 'often';
    obj.spec.triggers[0].authenticationRef.namespace = 'x';
    expect(() => assertValidCustomResource(obj)).toThrow(
      [
        'ScaledJob "agents" (keda.sh/v1alpha1) does not match its CRD schema (schemas/crds/keda.sh_scaledjob_v1alpha1.json):',
        '  - /spec/pollingInterval: must be integer',
        '  - /spec/triggers/0/authenticationRef/namespace: unknown field "namespace"',
      ].join('\n'),
    );
  });
});

describe('prometheus-operator', () => {
  test('a PodMonitor is valid; int-or-string targetPort accepts both forms (generated classes too)', () => {
    expect(validateCustomResource(podMonitor())).toEqual([]);
    const { apiVersion: _a, kind: _k, ...props } = podMonitor();
    for (const targetPort of [
      PodMonitorSpecPodMetricsEndpointsTargetPort.fromNumber(9090),
      PodMonitorSpecPodMetricsEndpointsTargetPort.fromString('metrics'),
    ]) {
      const rendered = PodMonitor.manifest({
        ...props,
        spec: { ...props.spec, podMetricsEndpoints: [{ targetPort, interval: '15s' }] },
      });
      expect(rendered.spec.podMetricsEndpoints[0].targetPort).toBe(targetPort.value);
      expect(validateCustomResource(rendered)).toEqual([]);
    }
  });

  test('an invalid PodMonitor fails', () => {
    const obj = podMonitor();
    delete obj.spec.selector;
    obj.spec.podMetricsEndpoints[0].interval = '30 seconds';
    obj.spec.podMetricsEndpoints[0].portt = 'metrics';
    obj.spec.podMetricsEndpoints[0].portNumber = 70000;
    obj.spec.scrapeProtocols = ['PrometheusProto', 'PrometheusProto'];
    obj.spec.fallbackScrapeProtocol = 'Protobuf';
    expect(validateCustomResource(obj)).toEqual([
      '/spec/fallbackScrapeProtocol: must be one of ["PrometheusProto","OpenMetricsText0.0.1","OpenMetricsText1.0.0","PrometheusText0.0.4","PrometheusText1.0.0"]',
      expect.stringMatching(/^\/spec\/podMetricsEndpoints\/0\/interval: must match pattern "\^\(0\|/),
      '/spec/podMetricsEndpoints/0/portNumber: must be <= 65535',
      '/spec/podMetricsEndpoints/0/portt: unknown field "portt"',
      '/spec/scrapeProtocols: duplicate entries at 0 and 1 in a list-type=set list',
      '/spec/selector: required field is missing',
    ]);
  });

  test('a PrometheusRule is valid, also as rendered by the generated class', () => {
    expect(validateCustomResource(prometheusRule())).toEqual([]);
    const rendered = PrometheusRule.manifest({
      metadata: { name: 'agents' },
      spec: {
        groups: [
          {
            name: 'agents',
            partialResponseStrategy: 'warn',
            rules: [{ record: 'up:sum', expr: PrometheusRuleSpecGroupsRulesExpr.fromString('sum(up)') }],
          },
        ],
      },
    });
    expect(rendered.spec.groups[0].partial_response_strategy).toBe('warn');
    expect(validateCustomResource(rendered)).toEqual([]);
  });

  test('an invalid PrometheusRule fails', () => {
    const obj = prometheusRule();
    obj.spec.groups[0].rules[1].for = 'ten minutes';
    delete obj.spec.groups[0].rules[0].expr;
    obj.spec.groups[0].rules[0].labels = { team: 1 };
    obj.spec.groups.push({ name: 'agents', rules: [] });
    expect(validateCustomResource(obj)).toEqual([
      '/spec/groups/0/rules/0/expr: required field is missing',
      '/spec/groups/0/rules/0/labels/team: must be string',
      expect.stringMatching(/^\/spec\/groups\/0\/rules\/1\/for: must match pattern/),
      '/spec/groups: entries 0 and 1 have the same key ["agents"] (list-map-keys ["name"])',
    ]);
  });

  test('a Go (?i) pattern is matched case-insensitively (partial_response_strategy: ^(?i)(abort|warn)?$)', () => {
    for (const value of ['abort', 'Abort', 'WARN', 'wArN', '']) {
      const obj = prometheusRule();
      obj.spec.groups[0].partial_response_strategy = value;
      expect(validateCustomResource(obj)).toEqual([]);
    }
    for (const value of ['ignore', 'abort!', ' warn']) {
      const obj = prometheusRule();
      obj.spec.groups[0].partial_response_strategy = value;
      // The message quotes the CRD's own Go pattern.
      expect(validateCustomResource(obj)).toEqual([
        '/spec/groups/0/partial_response_strategy: must match pattern "^(?i)(abort|warn)?$"',
      ]);
    }
  });
});

describe('schema selection', () => {
  test.each([
    ['apps/v1', 'Deployment'],
    ['keda.sh/v1', 'ScaledJob'],
    ['keda.sh/v1alpha1', 'ScaledJobs'],
  ])('%s %s has no schema: a clear error', (apiVersion, kind) => {
    expect(hasCustomResourceSchema(apiVersion, kind)).toBe(false);
    expect(() => validateCustomResource({ apiVersion, kind, metadata: { name: 'x' } })).toThrow(
      `No CRD schema for apiVersion "${apiVersion}", kind "${kind}"`,
    );
    expect(() => assertValidCustomResource({ apiVersion, kind, metadata: { name: 'x' } })).toThrow(
      /Known: .*ScaledJob/,
    );
  });

  test('an object without apiVersion/kind is a usage error', () => {
    expect(() => validateCustomResource({ kind: 'ScaledJob' })).toThrow(/no string apiVersion\/kind/);
    expect(() => validateCustomResource(null)).toThrow(/expected a Kubernetes object/);
  });

  test('hasCustomResourceSchema finds the committed kinds', () => {
    expect(hasCustomResourceSchema('keda.sh/v1alpha1', 'ScaledJob')).toBe(true);
    expect(hasCustomResourceSchema('monitoring.coreos.com/v1', 'PodMonitor')).toBe(true);
  });
});

describe('structural schema rules', () => {
  const errorsOf = (schema: object, data: unknown): string[] => {
    const validate = compileStructuralSchema(schema);
    return validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`);
  };

  test('x-kubernetes-preserve-unknown-fields keeps declared fields typed and allows others', () => {
    const schema = {
      type: 'object',
      properties: {
        open: {
          type: 'object',
          'x-kubernetes-preserve-unknown-fields': true,
          properties: { n: { type: 'integer' } },
        },
      },
    };
    expect(errorsOf(schema, { open: { n: 1, anything: { deep: [1] } } })).toEqual([]);
    expect(errorsOf(schema, { open: { n: 'one' } })).toEqual(['/open/n type']);
    expect(errorsOf(schema, { closed: 1 })).toEqual([' additionalProperties']);
    // Without a type, preserve-unknown-fields accepts any value.
    expect(errorsOf({ 'x-kubernetes-preserve-unknown-fields': true }, [1, 'two'])).toEqual([]);
  });

  test('an object with neither properties nor additionalProperties takes no fields (Kubernetes prunes them)', () => {
    expect(errorsOf({ type: 'object' }, {})).toEqual([]);
    expect(errorsOf({ type: 'object' }, { a: 1 })).toEqual([' additionalProperties']);
  });

  test('anyOf/oneOf branches (value validations) compile strictly and add no unknown-field rule', () => {
    const schema = {
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'integer' } },
      oneOf: [{ required: ['a'] }, { required: ['b'] }],
      anyOf: [{ properties: { a: { pattern: '^x' } } }, { properties: { c: { minimum: 1 } } }],
    };
    expect(errorsOf(schema, { a: 'xy', c: 0 })).toEqual([]);
    expect(errorsOf(schema, { b: 'y', c: 2 })).toEqual([]);
    expect(errorsOf(schema, { a: 'x', b: 'y', c: 2 })).toEqual([' oneOf']);
    expect(errorsOf(schema, { a: 'y', c: 0 })).toEqual(['/a pattern', '/c minimum', ' anyOf']);
  });

  test('x-kubernetes-embedded-resource allows apiVersion, kind and metadata', () => {
    const schema = {
      type: 'object',
      'x-kubernetes-embedded-resource': true,
      properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    };
    expect(
      errorsOf(schema, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, spec: { a: 1 } }),
    ).toEqual([]);
    expect(errorsOf(schema, { status: {} })).toEqual([' additionalProperties']);
  });

  test('x-kubernetes-validations (CEL) and other annotation keywords are accepted but NOT checked', () => {
    const schema = {
      type: 'object',
      properties: { a: { type: 'integer' } },
      'x-kubernetes-validations': [{ rule: 'self.a > 10', message: 'a must be > 10' }],
      'x-kubernetes-map-type': 'atomic',
      'x-kubernetes-some-future-keyword': { anything: true },
    };
    expect(errorsOf(schema, { a: 1 })).toEqual([]);
  });

  test('unknown formats compile and are not checked; known ones are', () => {
    expect(errorsOf({ type: 'string', format: 'made-up-format' }, 'anything')).toEqual([]);
    expect(errorsOf({ type: 'string', format: 'date-time' }, '2025-01-02T03:04:05Z')).toEqual([]);
    expect(errorsOf({ type: 'string', format: 'date-time' }, 'yesterday')).toEqual([' format']);
    expect(errorsOf({ type: 'string', format: 'byte' }, 'aGVsbG8=')).toEqual([]);
    expect(errorsOf({ type: 'string', format: 'byte' }, 'not base64!')).toEqual([' format']);
    expect(errorsOf({ type: 'integer', format: 'int64' }, 2 ** 40)).toEqual([]);
    expect(errorsOf({ type: 'integer', format: 'int32' }, -(2 ** 31) - 1)).toEqual([' format']);
  });

  test('Go inline regexp flags are translated into JavaScript flags', () => {
    expect(translateGoPattern('^(?i)(abort|warn)?$')).toEqual({ source: '^(abort|warn)?$', flags: 'i' });
    expect(translateGoPattern('(?is)a.b')).toEqual({ source: 'a.b', flags: 'is' });
    expect(translateGoPattern('^(?i:yes|no)$')).toEqual({ source: '^(?:yes|no)$', flags: 'i' });
    // An escaped parenthesis is a literal, not a flag group.
    expect(translateGoPattern('^\\(?i\\)$')).toEqual({ source: '^\\(?i\\)$', flags: '' });
    expect(translateGoPattern('^[a-z]+$')).toEqual({ source: '^[a-z]+$', flags: '' });
    expect(errorsOf({ type: 'string', pattern: '^(?i)on|off$' }, 'ON')).toEqual([]);
  });
});
