export * from './agent-observability';
export * from './alerts';
export * from './dashboard';
export * from './external-metrics';
export * from './promql';
