/**
 * What the Pod Security Standards "restricted" profile admits, where the constructs (which refuse
 * anything else at synth time) and the validator (which reports it in any manifest) must agree.
 * Source: kubernetes.io/docs/concepts/security/pod-security-standards ("Volume Types", restricted).
 */

/** Volume types a pod may use under "restricted". */
export const RESTRICTED_VOLUME_TYPES: ReadonlySet<string> = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
