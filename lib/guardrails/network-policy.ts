/**
 * The NetworkPolicy of each agent workload: default deny both ways; egress to DNS (UDP and TCP 53),
 * the given peers and the workload's model server; ingress only to the metrics port from the
 * monitoring namespace.
 */
import { Defaults } from '@agent-fleet/contract';
import { type ApiObject, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';
import { modelServerOf } from '../internal/agent-pod';
import { withDirectJson } from '../internal/direct-json';
import { invalid, requireDnsLabel, requireLabelValue } from '../internal/validation';
import type { IModelServer } from '../model-server';
import type { IAgentWorkload } from '../workload';
import { requireCidr } from './cidr';

/** The immutable label every namespace carries (a `name` label exists only if someone adds it). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

const KubeNetworkPolicy = withDirectJson(k8s.KubeNetworkPolicy, [
  'spec.egress[].ports[].port',
  'spec.ingress[].ports[].port',
]);

const DNS_PORT = 53;

/** Network protocol of an allowed port. */
export enum Protocol {
  TCP = 'TCP',
  UDP = 'UDP',
}

/** A destination port the agents may reach. */
export interface PeerPort {
  /** Port number, 1–65535. */
  readonly port: number;
  /**
   * Protocol.
   * @default Protocol.TCP
   */
  readonly protocol?: Protocol;
}

/** Options of {@link EgressPeer.namespace}. */
export interface NamespacePeerOptions {
  /**
   * Only pods with these labels in that namespace.
   * @default - every pod of the namespace
   */
  readonly podSelector?: Record<string, string>;
  /** Ports allowed; at least one (an allow-all-ports rule is almost never what an agent needs). */
  readonly ports: PeerPort[];
}

/** Options of {@link EgressPeer.ipBlock}. */
export interface IpBlockPeerOptions {
  /**
   * CIDRs inside the block that stay denied.
   * @default - none
   */
  readonly except?: string[];
  /** Ports allowed; at least one. */
  readonly ports: PeerPort[];
}

/**
 * A destination the agents' pods may reach through the default-deny NetworkPolicy.
 * Validated at synth time by {@link AgentGuardrails}, so errors name the prop.
 */
export class EgressPeer {
  /**
   * Pods in another namespace (a broker, a vector store), selected by the namespace's immutable
   * `kubernetes.io/metadata.name` label, never by a `name` label that namespaces do not carry.
   */
  static namespace(name: string, options: NamespacePeerOptions): EgressPeer {
    return new EgressPeer({ namespace: name, podSelector: options.podSelector }, options.ports);
  }

  /** Addresses outside the cluster, e.g. an LLM API's published ranges. */
  static ipBlock(cidr: string, options: IpBlockPeerOptions): EgressPeer {
    return new EgressPeer({ cidr, except: options.except }, options.ports);
  }

  private constructor(
    readonly target:
      | { readonly namespace: string; readonly podSelector?: Record<string, string> }
      | { readonly cidr: string; readonly except?: string[] },
    readonly ports: PeerPort[],
  ) {}
}

/** Where DNS runs; agents always get UDP and TCP 53 to it. */
export interface DnsOptions {
  /**
   * Namespace of the DNS pods.
   * @default "kube-system"
   */
  readonly namespace?: string;
  /**
   * Labels of the DNS pods.
   * @default { "k8s-app": "kube-dns" } (CoreDNS keeps this label on kubeadm, EKS, GKE and AKS)
   */
  readonly podSelector?: Record<string, string>;
}

export function requireLabels(
  scope: Construct,
  prop: string,
  labels: Record<string, string>,
): Record<string, string> {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) {
    invalid(scope, prop, labels, 'is empty', 'give at least one label, or omit the selector');
  }
  for (const [key, value] of entries) {
    if (!/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(key)) {
      invalid(
        scope,
        `${prop} key`,
        key,
        'is not a valid label key',
        'use an optional DNS prefix and "/", then at most 63 letters, digits, "-", "_" or "."',
      );
    }
    requireLabelValue(scope, `${prop}.${key}`, value);
  }
  return { ...labels };
}

function portsOf(scope: Construct, prop: string, ports: PeerPort[] | undefined): k8s.NetworkPolicyPort[] {
  if (!Array.isArray(ports) || ports.length === 0) {
    invalid(
      scope,
      `${prop}.ports`,
      ports,
      'lists no port, which would allow every port',
      'list the ports the agents need, e.g. ports: [{ port: 443 }]',
    );
  }
  return ports.map((p, j) => {
    if (!Number.isInteger(p?.port) || p.port < 1 || p.port > 65535) {
      invalid(scope, `${prop}.ports[${j}].port`, p?.port, 'is not a port number', 'use an integer 1–65535');
    }
    const protocol = p.protocol ?? Protocol.TCP;
    if (protocol !== Protocol.TCP && protocol !== Protocol.UDP) {
      invalid(
        scope,
        `${prop}.ports[${j}].protocol`,
        protocol,
        'is not a protocol',
        'use Protocol.TCP or Protocol.UDP',
      );
    }
    return { port: k8s.IntOrString.fromNumber(p.port), protocol };
  });
}

function dnsRule(scope: Construct, dns: DnsOptions): k8s.NetworkPolicyEgressRule {
  const namespace = requireDnsLabel(scope, 'dns.namespace', dns.namespace ?? 'kube-system');
  const pods = requireLabels(scope, 'dns.podSelector', dns.podSelector ?? { 'k8s-app': 'kube-dns' });
  return {
    to: [
      {
        namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } },
        podSelector: { matchLabels: pods },
      },
    ],
    // TCP as well: resolvers retry over TCP when an answer is truncated.
    ports: [
      { port: k8s.IntOrString.fromNumber(DNS_PORT), protocol: Protocol.UDP },
      { port: k8s.IntOrString.fromNumber(DNS_PORT), protocol: Protocol.TCP },
    ],
  };
}

function egressRule(scope: Construct, prop: string, peer: EgressPeer): k8s.NetworkPolicyEgressRule {
  if (!(peer instanceof EgressPeer)) {
    invalid(
      scope,
      prop,
      peer,
      'is not an EgressPeer',
      'use EgressPeer.namespace(...) or EgressPeer.ipBlock(...)',
    );
  }
  const target = peer.target;
  const ports = portsOf(scope, prop, peer.ports);
  if ('namespace' in target) {
    const namespace = requireDnsLabel(scope, `${prop}.namespace`, target.namespace);
    const pods = target.podSelector && requireLabels(scope, `${prop}.podSelector`, target.podSelector);
    return {
      to: [
        {
          namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } },
          ...(pods && { podSelector: { matchLabels: pods } }),
        },
      ],
      ports,
    };
  }
  const block = requireCidr(scope, `${prop}.cidr`, target.cidr);
  const except = (target.except ?? []).map((c, j) => {
    const inner = requireCidr(scope, `${prop}.except[${j}]`, c);
    if (inner.v6 !== block.v6 || inner.prefix <= block.prefix || !block.contains(inner.network)) {
      invalid(
        scope,
        `${prop}.except[${j}]`,
        c,
        `is not strictly inside ${target.cidr}`,
        'list only smaller blocks inside the cidr',
      );
    }
    return c;
  });
  return { to: [{ ipBlock: { cidr: target.cidr, ...(except.length > 0 && { except }) } }], ports };
}

/** Where agents may go and who may reach them, shared by every workload's NetworkPolicy. */
export interface AgentNetworkOptions {
  readonly egress: readonly EgressPeer[];
  readonly dns: DnsOptions;
  /** Validated already. */
  readonly monitoringNamespace: string;
  /** Validated already. */
  readonly monitoringPodSelector?: Record<string, string>;
}

/** Egress to the pods of `server` on its port (by namespace label when it lives in another namespace). */
function modelServerRule(scope: Construct, server: IModelServer): k8s.NetworkPolicyEgressRule {
  const namespace = Chart.of(scope).namespace;
  return {
    to: [
      {
        ...(server.namespace !== undefined && server.namespace !== namespace
          ? { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: server.namespace } } }
          : {}),
        podSelector: { matchLabels: { ...server.selectorLabels } },
      },
    ],
    ports: [{ port: k8s.IntOrString.fromNumber(server.port), protocol: Protocol.TCP }],
  };
}

/**
 * One default-deny NetworkPolicy per agent workload, as children of `scope`: egress to DNS, the
 * peers and the workload's model server; ingress to the metrics port from the monitoring namespace.
 */
export function agentNetworkPolicies(
  scope: Construct,
  agents: readonly IAgentWorkload[],
  options: AgentNetworkOptions,
): ApiObject[] {
  const egress = [
    dnsRule(scope, options.dns),
    ...options.egress.map((peer, i) => egressRule(scope, `egress[${i}]`, peer)),
  ];
  const monitoringPods = options.monitoringPodSelector;
  const ingress: k8s.NetworkPolicyIngressRule[] = [
    {
      from: [
        {
          namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: options.monitoringNamespace } },
          ...(monitoringPods && { podSelector: { matchLabels: monitoringPods } }),
        },
      ],
      ports: [{ port: k8s.IntOrString.fromNumber(Defaults.metricsPort), protocol: Protocol.TCP }],
    },
  ];
  return agents.map((agent) => {
    const server = modelServerOf(agent);
    return new KubeNetworkPolicy(scope, `NetworkPolicy-${agent.name}`, {
      metadata: { name: agent.name },
      spec: {
        podSelector: { matchLabels: { ...agent.selectorLabels } },
        policyTypes: ['Ingress', 'Egress'],
        ingress,
        egress: server ? [...egress, modelServerRule(scope, server)] : egress,
      },
    });
  });
}
