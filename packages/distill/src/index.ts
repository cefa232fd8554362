export { DEFAULTS } from './defaults';
export {
  distillationLoss,
  temperedSoftTerm,
  withTeacherLogits,
  type DistillationForm,
  type DistillationLoss,
  type DistillationOptions,
  type SoftTerm,
} from './distillation-loss';
export { loadTeacher, teacherFromFunction, teacherFromModel, type Teacher } from './teacher';
export { cacheTeacherLogits, type CachedTeacherLogits } from './cached-teacher';
