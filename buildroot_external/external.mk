include $(sort $(wildcard $(BR2_EXTERNAL_PBX_APPLIANCE_PATH)/package/*/*.mk))
