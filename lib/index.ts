export {
  AgentGuardrails,
  type AgentGuardrailsProps,
  type DnsOptions,
  EgressPeer,
  type IpBlockPeerOptions,
  type LimitRangeOptions,
  type NamespacePeerOptions,
  NamespaceQuota,
  type PeerPort,
  Protocol,
  type QuotaAmounts,
  UnhealthyPodEvictionPolicy,
} from './agent-guardrails';
export { AgentJob, type AgentJobProps, CompletionMode } from './agent-job';
export {
  type AgentInitContainer,
  type AgentPodProps,
  type AgentResources,
  type AgentSidecar,
  type AgentToleration,
  type AgentVolume,
  DEFAULT_AGENT_RESOURCES,
  DEFAULT_EXTRA_CONTAINER_RESOURCES,
  type ResourceAmounts,
  SidecarStartupProbe,
  type SidecarStartupProbeOptions,
  TaintEffect,
} from './agent-pod-props';
export { AgentPool, type AgentPoolProps } from './agent-pool';
export {
  AgentScaledJob,
  type AgentScaledJobProps,
  type LlmCapacity,
  RolloutStrategy,
} from './agent-scaled-job';
export {
  type BatchTask,
  BatchTasks,
  DEFAULT_TASK_CONFIGMAP_BYTES,
  MAX_TASK_CONFIGMAP_BYTES,
} from './batch';
export {
  CheckpointAccessMode,
  CheckpointStore,
  type CheckpointStoreProps,
  type ICheckpointStore,
} from './checkpoint-store';
export type { KueueAdmission } from './kueue/kueue-admission';
export {
  type ILocalQueue,
  type IWorkloadPriorityClass,
  KUEUE_PRIORITY_CLASS_LABEL,
  KUEUE_QUEUE_NAME_LABEL,
  LocalQueue,
  type LocalQueueProps,
  LocalQueueStopPolicy,
  WorkloadPriorityClass,
} from './kueue/local-queue';
export {
  type IModelServer,
  MODEL_SERVER_LABEL,
  ModelCache,
  ModelServer,
  type ModelServerAutoscaling,
  type ModelServerGpu,
  type ModelServerProps,
  VLLM_DEFAULT_IMAGE,
  VLLM_WAITING_REQUESTS_METRIC,
} from './model-server';
export {
  type AgentAlertOptions,
  type AgentDashboardOptions,
  AgentObservability,
  type AgentObservabilityProps,
  type ExternalMetricLabels,
} from './observability/agent-observability';
export { AgentAlert, AlertSeverity } from './observability/alerts';
export { Quantity } from './quantity';
export { QueueConnection } from './queue';
export { KedaDefaults } from './scaling/keda-defaults';
export {
  decideScaledJobScale,
  kedaMaxReplicaCount,
  MultipleScalersCalculation,
  type RabbitMqMetricOptions,
  RabbitMqProtocol,
  type RabbitMqQueueDepth,
  rabbitMqQueueLengthMetric,
  type ScaledJobScaleDecision,
  type ScaledJobScaleInput,
  type ScalerFigures,
  type ScalerMetric,
  ScalingStrategy,
  type ScalingStrategyName,
} from './scaling/keda-scaledjob';
export {
  type CheckpointSafeScaleDownInput,
  checkpointSafeScaleDown,
  decideScaledObjectReplicas,
  type HpaBehavior,
  HpaDefaults,
  type HpaRecommendation,
  type HpaScaleEvent,
  type HpaScalingPolicy,
  type HpaScalingRules,
  type HpaSelectPolicy,
  hpaAverageValueReplicas,
  ScaledObjectDefaults,
  type ScaledObjectScaleDecision,
  type ScaledObjectScaleInput,
  type ScaledObjectScalePath,
} from './scaling/keda-scaledobject';
export {
  DEFAULT_LLM_MAX_UTILIZATION,
  type DurationLike,
  type LlmBindingLimit,
  type LlmCapacityInput,
  type LlmCapacityResult,
  type LlmGatewayCapacity,
  type LlmLoad,
  type LlmTaskProfile,
  llmCapacityGuard,
  llmLoadForTasks,
} from './scaling/llm-capacity';
export {
  LlmCapacityAnnotations,
  TOKEN_BUDGET_GATE,
  TOKEN_BUDGET_TRIGGER_NAME,
  type TokenBudgetGateQueryOptions,
  tokenBudgetGateQuery,
  tokenBudgetGateReading,
} from './scaling/token-budget';
export {
  type AwsSqsTriggerOptions,
  KafkaSasl,
  type KafkaTriggerOptions,
  type PodIdentityOptions,
  PodIdentityProvider,
  RabbitMqMode,
  type RabbitMqTriggerOptions,
  type RedisListTriggerOptions,
  type RedisStreamTriggerOptions,
  ScaledJobTrigger,
  type SecretKeyRef,
  secretKey,
  TriggerAuth,
  type TriggerAuthOptions,
} from './triggers';
export { AgentFleetValidationError } from './validation-error';
export {
  ContainerRole,
  type IAgentWorkload,
  type PodContainerResources,
  type PodResources,
  WORKLOAD_LABEL,
} from './workload';
