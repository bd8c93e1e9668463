/** AF4xx: scraping and alerting. */
import { Defaults, Env } from '@agent-fleet/contract';
import { isObject, type Json, show } from '../manifest';
import type { Rule, RuleHit } from '../rule';

const PROMETHEUS_OPERATOR = 'https://prometheus-operator.dev/docs/api-reference/api/';

export const scrapeInterval: Rule = {
  id: 'AF401',
  severity: 'warning',
  title: 'A PodMonitor or ServiceMonitor endpoint sets no scrape interval',
  fix: `set interval (e.g. "${Defaults.scrapeIntervalSeconds}s") and give the workers the matching ${Env.AGENT_SCRAPE_WAIT_SECONDS}`,
  source: `${PROMETHEUS_OPERATOR}; https://prometheus.io/docs/practices/pushing/`,
  check(obj) {
    const list =
      obj.kind === 'PodMonitor'
        ? 'podMetricsEndpoints'
        : obj.kind === 'ServiceMonitor'
          ? 'endpoints'
          : undefined;
    if (!list || !Array.isArray(obj.spec?.[list])) return [];
    return obj.spec[list].flatMap((e: Json, i: number): RuleHit[] =>
      isObject(e) && e.interval === undefined
        ? [
            {
              field: `spec.${list}[${i}].interval`,
              message:
                "is unset, so Prometheus' global interval applies (1m by default): a worker that exits waits " +
                `${Env.AGENT_SCRAPE_WAIT_SECONDS} for a ${Defaults.scrapeIntervalSeconds}s interval and its last increments can be lost`,
            },
          ]
        : [],
    );
  },
};

/** A range selector or subquery (`[5m]`, `[1h:1m]`): the expression already looks back over time. */
const RANGE = /\[\s*\d+(ms|s|m|h|d|w|y)/;

export const alertHoldsFor: Rule = {
  id: 'AF402',
  severity: 'warning',
  title: 'An alert on an instant value has no `for`',
  fix: 'add for: (e.g. 5m), or alert on a range (rate, increase, max_over_time)',
  source: 'https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/',
  check(obj) {
    if (obj.kind !== 'PrometheusRule' || !Array.isArray(obj.spec?.groups)) return [];
    return obj.spec.groups.flatMap((g: Json, i: number) =>
      (Array.isArray(g?.rules) ? g.rules : []).flatMap((r: Json, j: number): RuleHit[] =>
        isObject(r) && typeof r.alert === 'string' && r.for === undefined && !RANGE.test(String(r.expr ?? ''))
          ? [
              {
                field: `spec.groups[${i}].rules[${j}].for`,
                message: `is unset on alert ${show(r.alert)}, whose expression reads one sample: a single scrape fires and resolves it`,
              },
            ]
          : [],
      ),
    );
  },
};

export const OBSERVABILITY_RULES: readonly Rule[] = [scrapeInterval, alertHoldsFor];
