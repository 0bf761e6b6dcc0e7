/**
 * The only module that imports cdktf and its provider bindings, so a build against a cdktf fork can alias these
 * imports in one place.
 */
export { Annotations, App, LocalBackend, TerraformBackend, TerraformStack, TerraformVariable } from 'cdktf';
export { provider as nullProvider } from '@cdktf/provider-null';
