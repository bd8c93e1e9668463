import { AgentJob, CheckpointStore, Quantity, QueueConnection } from '@agent-fleet/cdk8s';
import { App, Chart, Duration } from 'cdk8s';

const app = new App();
const chart = new Chart(app, 'research-agents', { namespace: 'agents' });

new AgentJob(chart, 'Batch', {
  image: 'registry.example.com/research-agent:2.3.0',
  queue: QueueConnection.fromSecretName('agent-secrets', 'queue-url'),
  completions: 50,
  parallelism: 10,
  ttlAfterFinished: Duration.hours(1),
  resources: {
    requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(2) },
    limits: { memory: Quantity.gibibytes(4) },
  },
  checkpointStore: new CheckpointStore(chart, 'Checkpoints', { storageClassName: 'efs' }),
});

app.synth();
