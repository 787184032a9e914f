//! A local emulator of Azure IoT Hub and DPS's device protocol.
