export { QmpClient, QmpError, type QmpConnectOptions, type QmpErrorKind, type QmpEvent, type QmpGreeting } from './qmp.js';
export {
  hasFileUri,
  queryMigrate,
  queryStatus,
  setCapabilities,
  shellQuote,
  waitForMigration,
  waitForRunState,
  type MigrationInfo,
  type RunStatus,
} from './migration.js';
export { QemuSourceDriver, type DeviceStateResult, type QemuSourceOptions } from './source.js';
export { expandQemuTemplate, splitCommandLine, TemplateError } from './template.js';
export {
  launchTargetQemu,
  startTargetQemu,
  targetQemuArgv,
  QemuLaunchError,
  type LaunchTargetOptions,
  type LaunchedQemu,
  type StartedQemu,
  type StartTargetOptions,
} from './target.js';
export { silentLogger, type QemuLogger } from './logger.js';
export { resolveDisk, DiskLookupError, type DiskNode } from './disks.js';
export { DiskFileView, diskViewId, type DiskViewOptions } from './disk-view.js';
export { DiskBitmapChain, diskBitmapPrefix, removeDiskLeftovers, type DiskBitmapOptions, type DirtyExtent, type FrozenBitmap } from './disk-bitmaps.js';
export { QemuDiskTracker, toPageRanges } from './disk-tracker.js';
