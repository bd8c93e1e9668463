/**
 * Guardrails around agent workloads: the composer (`AgentGuardrails`) and the options of each kind
 * it writes, one file per kind under lib/guardrails/.
 */
export {
  ACKNOWLEDGED_WARNING_METADATA,
  AgentGuardrails,
  type AgentGuardrailsProps,
  WARNING_METADATA,
} from './guardrails/agent-guardrails';
export { minAvailableFor, UnhealthyPodEvictionPolicy } from './guardrails/disruption-budget';
export type { LimitRangeOptions } from './guardrails/limit-range';
export {
  type DnsOptions,
  EgressPeer,
  type IpBlockPeerOptions,
  NAMESPACE_NAME_LABEL,
  type NamespacePeerOptions,
  type PeerPort,
  Protocol,
} from './guardrails/network-policy';
export { NamespaceQuota, type QuotaAmounts } from './guardrails/resource-quota';
