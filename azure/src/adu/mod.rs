//! Device Update for IoT Hub (ADU): the agent's reported properties, the
//! service's update requests and manifests, and the JWS check of a manifest
//! against the ADU root keys.
