"""The reference architecture's chat app, as its document describes it.

A Streamlit page with a chat input; each question goes to query_bedrock(), which
creates a Bedrock runtime client and calls the Converse API with the model and
parameters of the reference (Claude Sonnet 4 inference profile, temperature 0.9,
maxTokens 2000, topP 1.0); the answer is shown when it is complete. Nothing here is
improved on the reference: no client reuse, no history sent to the model.

The benchmark points boto3 at the Bedrock stand-in with AWS_ENDPOINT_URL and static
test keys. BENCH_REFERENCE_STREAMING=1 swaps Converse for ConverseStream shown with
st.write_stream (the same app otherwise): the reference does not stream, so this
variant is what lets the benchmark measure its inter-token delay at all.
"""

import os

import boto3
import streamlit as st

MODEL_ID = "us.anthropic.claude-sonnet-4-20250514-v1:0"
INFERENCE_CONFIG = {"temperature": 0.9, "maxTokens": 2000, "topP": 1.0}
REGION = os.environ.get("AWS_REGION", "us-west-2")


def query_bedrock(prompt):
    client = boto3.client("bedrock-runtime", region_name=REGION)
    response = client.converse(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig=INFERENCE_CONFIG,
    )
    return response["output"]["message"]["content"][0]["text"]


def stream_bedrock(prompt):
    client = boto3.client("bedrock-runtime", region_name=REGION)
    response = client.converse_stream(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig=INFERENCE_CONFIG,
    )
    for event in response["stream"]:
        if "contentBlockDelta" in event:
            yield event["contentBlockDelta"]["delta"]["text"]


st.title("Bedrock Chatbot")

if "messages" not in st.session_state:
    st.session_state.messages = []

for message in st.session_state.messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])

if prompt := st.chat_input("Ask Claude something"):
    st.session_state.messages.append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(prompt)
    with st.chat_message("assistant"):
        if os.environ.get("BENCH_REFERENCE_STREAMING") == "1":
            answer = st.write_stream(stream_bedrock(prompt))
        else:
            answer = query_bedrock(prompt)
            st.markdown(answer)
    st.session_state.messages.append({"role": "assistant", "content": answer})
