export * from './plan.js';
export * from './step.js';
