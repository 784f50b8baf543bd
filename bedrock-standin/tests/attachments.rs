#![allow(clippy::unwrap_used)]
//! Images and documents through the real `aws-sdk-bedrockruntime` client: what Bedrock
//! accepts reaches the stand-in byte for byte and is recorded; what it refuses is a
//! `ValidationException` in its words, alike from Converse and ConverseStream, and
//! leaves the stand-in serving.

mod support;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput, DocumentBlock,
    DocumentFormat, DocumentSource, ImageBlock, ImageFormat, ImageSource, Message,
};
use bedrock_standin::{AttachmentKind, Dimensions, Operation, Reply, StandIn};

use support::{MODEL, client, user};

/// A PNG header of this size in pixels, padded to `length` bytes (the stand-in reads
/// the header, as a model's input check does, not the pixels).
fn png(width: u32, height: u32, length: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend(width.to_be_bytes());
    bytes.extend(height.to_be_bytes());
    bytes.extend([8, 6, 0, 0, 0]);
    // Not all zeros, so that a byte changed on the way would show in the hash.
    let mut filler = (0..).map(|i: u32| (i % 251) as u8);
    bytes.resize_with(length.max(bytes.len()), || filler.next().unwrap());
    bytes
}

/// A PDF-looking document of `length` bytes.
fn pdf(length: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(length, b'x');
    bytes
}

fn image(format: &str, bytes: &[u8]) -> ContentBlock {
    ContentBlock::Image(
        ImageBlock::builder()
            .format(ImageFormat::from(format))
            .source(ImageSource::Bytes(Blob::new(bytes)))
            .build()
            .unwrap(),
    )
}

fn document(format: &str, name: &str, bytes: &[u8]) -> ContentBlock {
    ContentBlock::Document(
        DocumentBlock::builder()
            .format(DocumentFormat::from(format))
            .name(name)
            .source(DocumentSource::Bytes(Blob::new(bytes)))
            .build()
            .unwrap(),
    )
}

fn text(text: &str) -> ContentBlock {
    ContentBlock::Text(text.into())
}

fn message(role: ConversationRole, content: Vec<ContentBlock>) -> Message {
    Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .unwrap()
}

fn question(content: Vec<ContentBlock>) -> Message {
    message(ConversationRole::User, content)
}

/// `messages` asked with ConverseStream: the answer's text, or the service's error.
async fn ask_streaming(
    client: &Client,
    model: &str,
    messages: &[Message],
) -> Result<String, ConverseStreamError> {
    let output = client
        .converse_stream()
        .model_id(model)
        .set_messages(Some(messages.to_vec()))
        .send()
        .await
        .map_err(SdkError::into_service_error)?;
    let mut stream = output.stream;
    let mut streamed = String::new();
    while let Some(event) = stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(delta) = event
            && let Some(ContentBlockDelta::Text(text)) = delta.delta
        {
            streamed.push_str(&text);
        }
    }
    Ok(streamed)
}

/// `messages` asked with Converse: the answer's text, or the service's error.
async fn ask_whole(
    client: &Client,
    model: &str,
    messages: &[Message],
) -> Result<String, ConverseError> {
    let output = client
        .converse()
        .model_id(model)
        .set_messages(Some(messages.to_vec()))
        .send()
        .await
        .map_err(SdkError::into_service_error)?;
    let message = output.output.unwrap().as_message().unwrap().clone();
    Ok(message.content[0].as_text().unwrap().clone())
}

/// The answer to `messages`, asked with ConverseStream then Converse; both must agree.
async fn answer(client: &Client, model: &str, messages: &[Message]) -> String {
    let streamed = ask_streaming(client, model, messages).await.unwrap();
    let whole = ask_whole(client, model, messages).await.unwrap();
    assert_eq!(whole, streamed);
    streamed
}

/// Bedrock's refusal of `messages`: a `ValidationException` from ConverseStream and
/// from Converse, with one message.
async fn refusal(client: &Client, model: &str, messages: &[Message]) -> String {
    let streamed = ask_streaming(client, model, messages).await.unwrap_err();
    let ConverseStreamError::ValidationException(streamed) = streamed else {
        panic!("ConverseStream: expected a ValidationException, got {streamed:?}");
    };
    let whole = ask_whole(client, model, messages).await.unwrap_err();
    let ConverseError::ValidationException(whole) = whole else {
        panic!("Converse: expected a ValidationException, got {whole:?}");
    };
    assert_eq!(streamed.message(), whole.message());
    streamed.message().unwrap().to_string()
}

#[tokio::test]
async fn an_image_and_a_document_reach_bedrock_unchanged_and_the_echo_lists_them() {
    let standin = StandIn::start(0, Reply::echo()).await.unwrap();
    let client = client(&standin, 1).await;
    let photo = png(64, 48, 2048);
    let report = pdf(5000);
    let asked = [question(vec![
        text("What is in these?"),
        image("png", &photo),
        document("pdf", "Quarterly report (2026)", &report),
    ])];

    let echoed = answer(&client, MODEL, &asked).await;

    assert!(echoed.contains("> What is in these?"), "{echoed}");
    assert!(
        echoed.contains("- an image: png, 2048 bytes, 64×48 px"),
        "{echoed}"
    );
    assert!(
        echoed.contains("- a document, \"Quarterly report (2026)\": pdf, 5000 bytes"),
        "{echoed}"
    );
    let requests = standin.state().requests();
    let operations: Vec<Operation> = requests.iter().map(|r| r.operation).collect();
    assert_eq!(operations, [Operation::ConverseStream, Operation::Converse]);
    for request in &requests {
        let [sent_image, sent_document] = request.attachments.as_slice() else {
            panic!("two attachments expected: {:?}", request.attachments);
        };
        assert_eq!(sent_image.kind, AttachmentKind::Image);
        assert_eq!(sent_image.format, "png");
        assert_eq!(
            sent_image.dimensions,
            Some(Dimensions {
                width: 64,
                height: 48
            })
        );
        assert!(sent_image.is(&photo));
        assert!(!sent_image.is(&report));
        assert_eq!(sent_document.kind, AttachmentKind::Document);
        assert_eq!(sent_document.format, "pdf");
        assert_eq!(
            sent_document.name.as_deref(),
            Some("Quarterly report (2026)")
        );
        assert_eq!(sent_document.size, 5000);
        assert!(sent_document.is(&report));
        // The text is recorded as sent; the bytes are not kept in the body.
        assert_eq!(
            request.messages(),
            vec![("user".into(), "What is in these?".into())]
        );
        let body = request.body.to_string();
        assert!(
            !body.contains(&aws_smithy_types::base64::encode(&photo)),
            "{body:.300}"
        );
        assert!(
            body.contains("2732 characters of base64, not kept"),
            "{body:.300}"
        );
    }
}

#[tokio::test]
async fn an_image_alone_is_a_question_and_earlier_attachments_are_recorded_but_not_echoed() {
    let standin = StandIn::start(0, Reply::echo()).await.unwrap();
    let client = client(&standin, 1).await;
    let first = png(10, 10, 100);
    let second = png(20, 30, 200);
    let asked = [
        question(vec![text("Look"), image("png", &first)]),
        message(ConversationRole::Assistant, vec![text("I looked.")]),
        question(vec![image("png", &second)]),
    ];

    let echoed = answer(&client, MODEL, &asked).await;

    assert!(echoed.contains("> (no text)"), "{echoed}");
    assert!(echoed.contains("png, 200 bytes, 20×30 px"), "{echoed}");
    assert!(!echoed.contains("100 bytes"), "{echoed}");
    let recorded = &standin.state().requests()[0].attachments;
    let messages: Vec<usize> = recorded.iter().map(|a| a.message).collect();
    assert_eq!(messages, [0, 2]);
    assert!(recorded[0].is(&first) && recorded[1].is(&second));
}

#[tokio::test]
async fn images_within_the_limits_are_accepted_and_past_them_refused_in_claudes_words() {
    let standin = StandIn::start(0, Reply::text("ok")).await.unwrap();
    let client = client(&standin, 1).await;
    let ask = |block: ContentBlock| [question(vec![text("Describe it."), block])];

    // 3.75 MiB is 5 MiB of base64, the most Claude takes.
    let largest = png(100, 100, bedrock_standin::MAX_IMAGE_BYTES);
    assert_eq!(
        answer(&client, MODEL, &ask(image("png", &largest))).await,
        "ok"
    );
    let too_large = png(100, 100, bedrock_standin::MAX_IMAGE_BYTES + 1);
    assert_eq!(
        refusal(&client, MODEL, &ask(image("png", &too_large))).await,
        "The model returned the following errors: messages.0.content.1.image.source.bytes: \
         image exceeds 5 MB maximum: 5242884 bytes > 5242880 bytes"
    );

    let side = bedrock_standin::MAX_IMAGE_SIDE;
    let widest = ask(image("png", &png(side, side, 64)));
    assert_eq!(answer(&client, MODEL, &widest).await, "ok");
    let too_wide = ask(image("png", &png(side + 1, 10, 64)));
    assert!(
        refusal(&client, MODEL, &too_wide)
            .await
            .ends_with("At least one of the image dimensions exceed max allowed size: 8000 pixels")
    );

    // Twenty images in a request, however they are spread over its messages.
    let small = png(4, 4, 64);
    let images = |n: usize| (0..n).map(|_| image("png", &small)).collect::<Vec<_>>();
    let twenty = [
        question([vec![text("First ten")], images(10)].concat()),
        message(ConversationRole::Assistant, vec![text("Seen.")]),
        question([vec![text("Ten more")], images(10)].concat()),
    ];
    assert_eq!(answer(&client, MODEL, &twenty).await, "ok");
    let mut twenty_one = twenty.clone();
    twenty_one[2] = question([vec![text("Eleven more")], images(11)].concat());
    assert_eq!(
        refusal(&client, MODEL, &twenty_one).await,
        "The model returned the following errors: messages: too many images: image_count > 20"
    );
}

#[tokio::test]
async fn an_image_must_be_what_its_format_says_in_one_bedrock_takes() {
    let standin = StandIn::start(0, Reply::text("ok")).await.unwrap();
    let client = client(&standin, 1).await;
    let ask = |block: ContentBlock| [question(vec![text("Describe it."), block])];
    let photo = png(32, 32, 300);

    assert_eq!(
        refusal(&client, MODEL, &ask(image("bmp", &photo))).await,
        "1 validation error detected: Value at 'messages.1.member.content.2.member.image.format' \
         failed to satisfy constraint: Member must satisfy enum value set: [png, jpeg, gif, webp]"
    );
    // Case matters: `JPEG` and `jpg` are not formats.
    for format in ["PNG", "jpg"] {
        assert!(
            refusal(&client, MODEL, &ask(image(format, &photo)))
                .await
                .contains("Member must satisfy enum value set")
        );
    }
    assert_eq!(
        refusal(&client, MODEL, &ask(image("jpeg", &photo))).await,
        "The model returned the following errors: messages.0.content.1.image.source.bytes: \
         The image was specified using the image/jpeg media type, but the image appears to be a \
         image/png image"
    );
    assert_eq!(
        refusal(&client, MODEL, &ask(image("png", &pdf(300)))).await,
        "The model returned the following errors: messages.0.content.1.image.source.bytes: \
         Could not process image"
    );
}

#[tokio::test]
async fn documents_within_the_limits_are_accepted_and_past_them_refused() {
    let standin = StandIn::start(0, Reply::text("ok")).await.unwrap();
    let client = client(&standin, 1).await;
    let ask = |block: ContentBlock| [question(vec![text("Summarise it."), block])];
    let limit = bedrock_standin::MAX_DOCUMENT_BYTES;

    let largest = document("docx", "Largest", &pdf(limit));
    assert_eq!(answer(&client, MODEL, &ask(largest)).await, "ok");
    let too_large = document("docx", "Too large", &pdf(limit + 1));
    assert_eq!(
        refusal(&client, MODEL, &ask(too_large)).await,
        format!(
            "The document Too large is {} bytes; a document can be at most {limit} bytes (4.5 MB).",
            limit + 1
        )
    );
    // A PDF is not held to 4.5 MB from Claude 4 on, but is for Claude 3.5.
    let large_pdf = ask(document("pdf", "Large PDF", &pdf(limit + 1)));
    assert_eq!(answer(&client, MODEL, &large_pdf).await, "ok");
    let claude_3_5 = "anthropic.claude-3-5-sonnet-20240620-v1:0";
    assert!(
        refusal(&client, claude_3_5, &large_pdf)
            .await
            .contains("can be at most")
    );

    let documents = |n: usize| -> Vec<ContentBlock> {
        (0..n)
            .map(|i| document("txt", &format!("Notes {i}"), b"some notes"))
            .collect()
    };
    let five = [question([vec![text("Compare")], documents(5)].concat())];
    assert_eq!(answer(&client, MODEL, &five).await, "ok");
    let six = [question([vec![text("Compare")], documents(6)].concat())];
    assert_eq!(
        refusal(&client, MODEL, &six).await,
        bedrock_standin::TOO_MANY_DOCUMENTS
    );
    assert_eq!(
        refusal(
            &client,
            MODEL,
            &ask(document("exe", "Program", b"MZ\x90\0"))
        )
        .await,
        "1 validation error detected: Value at 'messages.1.member.content.2.member.document.format' \
         failed to satisfy constraint: Member must satisfy enum value set: \
         [pdf, csv, doc, docx, xls, xlsx, html, txt, md]"
    );
}

#[tokio::test]
async fn a_document_needs_a_sanitised_name_unique_in_the_request_and_text_beside_it() {
    let standin = StandIn::start(0, Reply::text("ok")).await.unwrap();
    let client = client(&standin, 1).await;
    let notes = b"Meeting notes".as_slice();
    let ask = |name: &str| {
        [question(vec![
            text("Read it."),
            document("txt", name, notes),
        ])]
    };

    for name in [
        "report.txt",
        "John's notes",
        "two  spaces",
        "snake_case",
        "résumé",
    ] {
        assert_eq!(
            refusal(&client, MODEL, &ask(name)).await,
            bedrock_standin::DOCUMENT_NAME_REFUSED,
            "{name}"
        );
    }
    assert!(
        refusal(&client, MODEL, &ask(&"a".repeat(201)))
            .await
            .contains("member.document.name' failed to satisfy constraint: Member must have length less than or equal to 200")
    );
    assert_eq!(
        answer(&client, MODEL, &ask("Notes - 5 May [draft]")).await,
        "ok"
    );

    // The same name twice in one request, even in two questions of a conversation.
    let twice = [
        question(vec![text("Read it."), document("txt", "Notes", notes)]),
        message(ConversationRole::Assistant, vec![text("Read.")]),
        question(vec![text("And this."), document("md", "Notes", notes)]),
    ];
    assert_eq!(
        refusal(&client, MODEL, &twice).await,
        bedrock_standin::DUPLICATE_DOCUMENT_NAMES
    );

    let alone = [question(vec![document("txt", "Notes", notes)])];
    assert_eq!(
        refusal(&client, MODEL, &alone).await,
        bedrock_standin::DOCUMENT_WITHOUT_TEXT
    );
}

#[tokio::test]
async fn images_and_documents_are_for_user_messages_and_models_that_read_them() {
    let standin = StandIn::start(0, Reply::text("ok")).await.unwrap();
    let client = client(&standin, 1).await;
    let photo = png(8, 8, 100);

    let answered_with_an_image = [
        question(vec![text("Draw a cat")]),
        message(
            ConversationRole::Assistant,
            vec![text("Here:"), image("png", &photo)],
        ),
        question(vec![text("Thanks")]),
    ];
    assert_eq!(
        refusal(&client, MODEL, &answered_with_an_image).await,
        "The model returned the following errors: messages.1.content: 'image' blocks are not \
         permitted within assistant turns."
    );

    let with_image = [question(vec![text("What is it?"), image("png", &photo)])];
    assert_eq!(
        refusal(&client, "meta.llama3-70b-instruct-v1:0", &with_image).await,
        bedrock_standin::IMAGE_UNSUPPORTED
    );
    assert_eq!(
        answer(&client, "us.amazon.nova-pro-v1:0", &with_image).await,
        "ok"
    );
    let with_document = [question(vec![
        text("Summarise"),
        document("txt", "Notes", b"notes"),
    ])];
    assert_eq!(
        refusal(&client, "amazon.titan-text-premier-v1:0", &with_document).await,
        bedrock_standin::DOCUMENT_UNSUPPORTED
    );
}

#[tokio::test]
async fn a_refused_attachment_leaves_nothing_behind_and_the_next_question_is_answered() {
    let standin = StandIn::start(0, Reply::echo()).await.unwrap();
    let client = client(&standin, 1).await;
    let large = png(100, 100, bedrock_standin::MAX_IMAGE_BYTES + 1);
    let refused = [question(vec![text("Too big?"), image("png", &large)])];

    refusal(&client, MODEL, &refused).await;

    assert_eq!(standin.state().streams_started(), 0);
    let requests = standin.state().requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert!(request.attachments.is_empty(), "{:?}", request.attachments);
        assert!(
            request.body.to_string().len() < 1000,
            "the bytes are not kept"
        );
    }
    let echoed = answer(&client, MODEL, &[user("Still there?")]).await;
    assert!(echoed.contains("> Still there?"), "{echoed}");
    assert!(!echoed.contains("You attached"), "{echoed}");
}
