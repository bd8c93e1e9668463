export * from './agent-job';
export * from './agent-pod';
export * from './checkpoint-store';
export * from './job-policy';
export * from './quantity';
export * from './queue';
export * from './validation';
