export { fillImage, type FillOptions, type FillStats } from './fill.js';
export { startWorkload, type Workload, type WorkloadOptions, type WorkloadStats } from './workload.js';
export { PROFILES, isProfileName, type ProfileName } from './profiles.js';
