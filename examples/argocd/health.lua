-- Argo CD health of a ChatbotPlatform or BedrockChatbot, by kstatus conventions:
-- the controller has not seen the latest spec yet -> Progressing; Stalled=True (an
-- invalid spec, or an AWS error no retry fixes: a person must act) or, from older
-- controllers, Synced=False with reason InvalidSpec -> Degraded;
-- Ready=True -> Healthy; anything else (AWS resources being created, tasks starting,
-- a retry after throttling) -> Progressing, with the controller's own message.
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to reconcile"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or stalled.reason or "Stalled"
  return hs
end

local synced = condition("Synced")
if synced ~= nil and synced.status == "False" and synced.reason == "InvalidSpec" then
  hs.status = "Degraded"
  hs.message = synced.message or "The spec is invalid"
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end

hs.status = "Progressing"
if ready ~= nil and ready.message ~= nil then
  hs.message = ready.message
elseif ready ~= nil and ready.reason ~= nil then
  hs.message = ready.reason
else
  hs.message = "Waiting for the controller to report Ready"
end
return hs
