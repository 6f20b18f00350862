#ifndef LEITSTAND_CMOSQUITTO_SHIM_H
#define LEITSTAND_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
