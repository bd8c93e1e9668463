import { Defaults } from '@agent-fleet/contract';
import { ApiObject, JsonPatch, Testing } from 'cdk8s';
import { AgentJob, CheckpointAccessMode, CheckpointStore, Quantity, QueueConnection } from '../lib';
import { only, synthValid } from './support/manifests';

const queue = QueueConnection.fromSecretName('agent-secrets');
const image = 'registry.example.com/agent:1.0.0';

describe('CheckpointStore', () => {
  test('defaults to a 10Gi ReadWriteMany claim on the default StorageClass', () => {
    const chart = Testing.chart();
    new CheckpointStore(chart, 'Store');
    const pvc = only(synthValid(chart), 'PersistentVolumeClaim');
    expect(pvc.spec).toEqual({
      accessModes: ['ReadWriteMany'],
      volumeMode: 'Filesystem',
      resources: { requests: { storage: '10Gi' } },
    });
    expect(pvc.spec.storageClassName).toBeUndefined();
  });

  test('storage class, size and claim name are passed through; snapshot', () => {
    const chart = Testing.chart();
    const store = new CheckpointStore(chart, 'Store', {
      storageClassName: 'efs-sc',
      size: Quantity.of('500Gi'),
      claimName: 'agent-checkpoints',
    });
    const objects = synthValid(chart);
    const pvc = only(objects, 'PersistentVolumeClaim');
    expect(pvc.metadata.name).toBe('agent-checkpoints');
    expect(store.claimName).toBe('agent-checkpoints');
    expect(pvc.spec.storageClassName).toBe('efs-sc');
    expect(pvc.spec.resources.requests.storage).toBe('500Gi');
    expect(objects).toMatchSnapshot();
  });

  test('a generated claim name is what AgentJob mounts', () => {
    const chart = Testing.chart();
    const store = new CheckpointStore(chart, 'Store');
    new AgentJob(chart, 'Agents', { image, queue, checkpointStore: store });
    const objects = synthValid(chart);
    const pvc = only(objects, 'PersistentVolumeClaim');
    const job = only(objects, 'Job');
    expect(job.spec.template.spec.volumes).toContainEqual({
      name: 'checkpoints',
      persistentVolumeClaim: { claimName: pvc.metadata.name },
    });
  });

  test('fromExistingClaim synthesizes nothing and is mounted at the contract path', () => {
    const chart = Testing.chart();
    const store = CheckpointStore.fromExistingClaim(chart, 'Existing', 'platform-checkpoints');
    expect(store.accessMode).toBe(CheckpointAccessMode.READ_WRITE_MANY);
    new AgentJob(chart, 'Agents', { image, queue, checkpointStore: store, completions: 4, parallelism: 4 });
    const objects = synthValid(chart);
    expect(objects.map((o) => o.kind)).toEqual(['Job']);
    const pod = objects[0].spec.template.spec;
    expect(pod.volumes).toContainEqual({
      name: 'checkpoints',
      persistentVolumeClaim: { claimName: 'platform-checkpoints' },
    });
    expect(pod.containers[0].volumeMounts).toContainEqual({
      name: 'checkpoints',
      mountPath: Defaults.checkpointDir,
    });
  });

  test('ReadWriteOnce only when chosen, and then refused for parallel fleets', () => {
    const chart = Testing.chart();
    const rwo = CheckpointStore.fromExistingClaim(chart, 'Rwo', 'single', {
      accessMode: CheckpointAccessMode.READ_WRITE_ONCE,
    });
    expect(
      () => new AgentJob(chart, 'Parallel', { image, queue, checkpointStore: rwo, completions: 3 }),
    ).toThrow(/Parallel: checkpointStore\.accessMode = "ReadWriteOnce" cannot be shared by the 3 pods/);
    expect(
      () =>
        new AgentJob(chart, 'Serial', { image, queue, checkpointStore: rwo, completions: 3, parallelism: 1 }),
    ).not.toThrow();
  });

  test('escape hatch: ApiObject.of(store)', () => {
    const chart = Testing.chart();
    const store = new CheckpointStore(chart, 'Store');
    expect(ApiObject.of(store)).toBe(store.apiObject);
    ApiObject.of(store).addJsonPatch(
      JsonPatch.add('/metadata/annotations', { 'backup.velero.io/backup-volumes': 'data' }),
    );
    expect(only(synthValid(chart), 'PersistentVolumeClaim').metadata.annotations).toEqual({
      'backup.velero.io/backup-volumes': 'data',
    });
  });

  test.each([
    [
      'fails on the size "10GB"',
      { size: Quantity.of('10GB') },
      /Store: size = "10GB" is not a Kubernetes quantity/,
    ],
    [
      'fails on a zero size',
      { size: Quantity.gibibytes(0) },
      /Store: size = "0Gi" is not a positive capacity/,
    ],
    [
      'fails on a bad storageClassName',
      { storageClassName: 'EFS_SC' },
      /storageClassName = "EFS_SC" is not a DNS-1123 subdomain/,
    ],
    [
      'fails on a bad claimName',
      { claimName: 'my claim' },
      /claimName = "my claim" is not a DNS-1123 subdomain/,
    ],
  ])('%s', (_title, props, message) => {
    expect(() => new CheckpointStore(Testing.chart(), 'Store', props)).toThrow(message);
  });

  test('fails on a bad existing claim name', () => {
    expect(() => CheckpointStore.fromExistingClaim(Testing.chart(), 'Existing', 'Not/A/Name')).toThrow(
      /Existing: claimName = "Not\/A\/Name" is not a DNS-1123 subdomain/,
    );
  });
});
