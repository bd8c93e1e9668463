export * from './keda-scaledjob';
export * from './llm-capacity';
