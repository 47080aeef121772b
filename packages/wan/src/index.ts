export { startWanProxy } from './proxy.js';
export type { WanProxy, WanProxyOptions, WanProxyStats, DirectionStats } from './proxy.js';
export { TokenBucket, DelayLine, LinkModel, defaultQueueBound } from './link.js';
export type { LinkSettings } from './link.js';
