#ifndef LEITSTAND_CMOSQUITTO_SHIM_H
#define LEITSTAND_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
/* The network loop of Shared/MQTT waits with poll() on the MQTT socket and an eventfd of its own. */
#include <poll.h>
#include <sys/eventfd.h>
#endif
