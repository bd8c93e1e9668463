/**
 * The values KEDA 2.16 uses for ScaledJob fields a manifest leaves out, and the CRD's int32 ceiling.
 * The constructs write these defaults explicitly and the `plan` simulator assumes them for a manifest
 * that omits them, so both read them from here.
 *
 * @module
 */

/**
 * KEDA 2.16's defaults for a ScaledJob's unset fields.
 * Source: keda-docs `content/docs/2.16/reference/scaledjob-spec.md`.
 */
export const KedaDefaults = {
  /** `pollingInterval`: seconds between two checks of the triggers. */
  pollingIntervalSeconds: 30,
  /**
   * `maxReplicaCount`: the most Jobs at once. Unlike an explicit value, KEDA does not subtract
   * `minReplicaCount` from this default (see `kedaMaxReplicaCount`).
   */
  maxReplicaCount: 100,
  /** `successfulJobsHistoryLimit`: finished Jobs kept. */
  successfulJobsHistoryLimit: 100,
  /** `failedJobsHistoryLimit`: failed Jobs kept. */
  failedJobsHistoryLimit: 100,
} as const;

/** Largest value the ScaledJob CRD accepts in its `int32` fields (replica counts, the custom deduction). */
export const INT32_MAX = 2_147_483_647;
